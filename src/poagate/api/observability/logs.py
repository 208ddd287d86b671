"""Logs: one JSON object a line, each carrying the id of the request it belongs to (the
caller's ``X-Request-ID`` when it sends a sensible one, else a new one: see ``middleware``)."""

from __future__ import annotations

import contextvars
import logging
from datetime import UTC, datetime
from typing import Any

import orjson

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("uvicorn.error").addFilter(_no_upgrade_warnings)


def _no_upgrade_warnings(record: logging.LogRecord) -> bool:
    """poagate has no WebSocket routes (``poagate serve`` runs uvicorn with ``ws="none"``): a
    client's upgrade request is answered as plain HTTP, not worth two warnings (one telling to
    install a WebSocket library) that any caller could repeat."""
    message = str(record.msg)
    return not message.startswith(("Unsupported upgrade request", "No supported WebSocket"))
