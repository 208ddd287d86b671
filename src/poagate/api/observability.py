"""Logs, request ids, the request body limit and Prometheus metrics.

Logs are one JSON object a line, each carrying the request id of the request it belongs to (the
caller's ``X-Request-ID`` when it sends a sensible one, else a new one, echoed in the response).
Metrics are prometheus-client's; with several worker processes the CLI sets
``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` adds every worker's figures up. Figures that
belong to the database rather than a process (open windows, the delivery queue) are read from
the database when ``/metrics`` is scraped.
"""

from __future__ import annotations

import collections
import contextvars
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from poagate.api.answers import message_type, outcome_name
from poagate.domain.outcomes import SuppressionEntry
from poagate.service.ingest import ItemResult
from poagate.service.verifications import VerificationPass

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
_SENSIBLE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

MESSAGES = Counter("poagate_messages_total", "Messages received, by type.", ["type"])
OUTCOMES = Counter("poagate_outcomes_total", "Outcomes of messages, by outcome.", ["outcome"])
DECISION_SECONDS = Histogram(
    "poagate_decision_seconds",
    "From a request's arrival to its decisions being durable.",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
GROUP_SECONDS = Histogram(
    "poagate_group_transaction_seconds",
    "One group-commit transaction: load, decide, write, commit.",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
RELEASE_PASSES = Counter(
    "poagate_release_passes_total",
    "release-if-dark passes this server has completed, whatever they found.",
)
HTTP_REQUESTS = Counter(
    "poagate_http_requests_total",
    "HTTP requests answered, by method, route (the path template) and status.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "poagate_http_request_duration_seconds",
    "From a request's arrival to the end of its answer, by method and route.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
RELEASES = Counter(
    "poagate_ad1_released_total",
    "Suppressed AD1s released to their DNO by a guard, by release_reason.",
    ["reason"],
)


VERIFICATION_PASSES = Counter(
    "poagate_verification_passes_total",
    "Verification passes this server has completed, whatever they found.",
)
VERIFICATION_REQUESTS = Counter(
    "poagate_verification_requests_total",
    "Verification requests sent to the DSP, by attempt.",
    ["attempt"],
)
VERIFICATION_SETTLED = Counter(
    "poagate_verification_settled_total",
    "Verification requests settled, by outcome: answered, expired, withdrawn.",
    ["outcome"],
)
VERIFICATION_PUSHED = Counter(
    "poagate_verification_pushed_total",
    "Verification requests the DSP's webhook took.",
)


def observe_verifications(done: VerificationPass) -> None:
    """Count what a verification pass did (a ``service.verifications.VerificationPass``); its
    releases are counted by ``observe_releases``."""
    for attempt, count in collections.Counter(r.attempt for r in done.requested).items():
        VERIFICATION_REQUESTS.labels(str(attempt)).inc(count)
    for outcome in ("answered", "expired", "withdrawn"):
        if getattr(done, outcome):
            VERIFICATION_SETTLED.labels(outcome).inc(getattr(done, outcome))
    if done.released:
        observe_releases(done.released)


def observe_group(results: list[ItemResult], seconds: float) -> None:
    """Count a group's messages and outcomes: one increment a label, not one an item."""
    GROUP_SECONDS.observe(seconds)
    outcomes = collections.Counter(outcome_name(r) for r in results)
    kinds = collections.Counter(message_type(r) for r in results)
    for outcome, count in outcomes.items():
        OUTCOMES.labels(outcome).inc(count)
    for kind, count in kinds.items():
        MESSAGES.labels(kind).inc(count)


def observe_releases(released: list[SuppressionEntry]) -> None:
    for reason, count in collections.Counter(e.release_reason for e in released).items():
        RELEASES.labels(reason or "").inc(count)


class StoreGauges(Collector):
    """Gauges read from the database at scrape time."""

    def __init__(self, read: Callable[[], dict[str, Any]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures = self._read()
        windows = GaugeMetricFamily(
            "poagate_open_windows", "Windows of usable activations containing now."
        )
        windows.add_metric([], figures["open_windows"])
        yield windows
        queue = GaugeMetricFamily(
            "poagate_delivery_queue", "Deliveries to DNO webhooks, by status.", labels=["status"]
        )
        for status in ("pending", "held", "delivered", "dead"):
            queue.add_metric([status], figures["deliveries"].get(status, 0))
        yield queue
        unrouted = GaugeMetricFamily(
            "poagate_ad1_unrouted",
            "Forwarded AD1s that reached no DNO: no ESME of the inventory is joined to their "
            "hub (R8). GET /v1/alerts/unrouted lists them.",
        )
        unrouted.add_metric([], figures["ad1_unrouted"])
        yield unrouted
        enabled = GaugeMetricFamily(
            "poagate_suppression_enabled",
            "1 while the gate suppresses, 0 while an operator has suspended it.",
        )
        enabled.add_metric([], 1 if figures["suppression_enabled"] else 0)
        yield enabled
        pending, oldest_seconds = figures.get("verifications", (0, 0.0))
        waiting = GaugeMetricFamily(
            "poagate_verification_queue",
            "Verification requests pending for the DSP.",
        )
        waiting.add_metric([], pending)
        yield waiting
        age = GaugeMetricFamily(
            "poagate_verification_queue_age_seconds",
            "How long the oldest pending verification request has waited (0 when none).",
        )
        age.add_metric([], oldest_seconds)
        yield age


def metrics_payload(gauges: Collector) -> tuple[bytes, str]:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(gauges)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    registry.register(gauges)
    return generate_latest(REGISTRY) + generate_latest(registry), CONTENT_TYPE_LATEST


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


access_log = logging.getLogger("poagate.access")


class RequestContext:
    """Request id, the body limit and the access log, as plain ASGI middleware.

    Reference data (``/v1/reference/…``, admin only) may be far larger than a batch of
    messages — a national inventory runs to gigabytes — so it has a limit of its own, which
    None lifts (its routes stream the body to disk).
    """

    def __init__(self, app: ASGIApp, body_limit: int, reference_limit: int | None) -> None:
        self.app = app
        self.message_limit = body_limit
        self.reference_limit = reference_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        request_id = given if _SENSIBLE_ID.fullmatch(given) else os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        limit = (
            self.reference_limit
            if str(scope.get("path", "")).startswith("/v1/reference/")
            else self.message_limit
        )

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            length = headers.get("content-length")
            if (
                limit is not None
                and length is not None
                and length.isascii()
                and length.isdigit()
                and (len(length) > 18 or int(length) > limit)
            ):
                await _too_large(scope, send_with_id, limit, request_id)
                return
            seen = 0

            async def limited() -> Message:
                nonlocal seen
                message = await receive()
                if message["type"] == "http.request" and limit is not None:
                    seen += len(message.get("body", b""))
                    if seen > limit:
                        raise _BodyTooLarge
                return message

            try:
                await self.app(scope, limited, send_with_id)
            except _BodyTooLarge:
                assert limit is not None
                await _too_large(scope, send_with_id, limit, request_id)
        finally:
            elapsed = time.perf_counter() - started
            observe_request(scope, status, elapsed)
            access_log.info(
                "%s %s %d",
                scope.get("method"),
                scope.get("path"),
                status,
                extra={
                    "fields": {
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                    }
                },
            )
            request_id_var.reset(token)


def observe_request(scope: Scope, status: int, seconds: float) -> None:
    """Count one answered request. The route is the matched path template
    (``/v1/windows/{request_id}/end``), never the path itself, so ids do not become labels;
    a path that matched no route is ``unmatched``."""
    route = getattr(scope.get("route"), "path", None)
    label = route if isinstance(route, str) else "unmatched"
    method = str(scope.get("method", ""))
    method = method if method in _METHODS else "other"
    HTTP_REQUESTS.labels(method, label, str(status)).inc()
    HTTP_SECONDS.labels(method, label).observe(seconds)


class _BodyTooLarge(Exception):  # noqa: N818 - control flow, never leaves this module
    pass


async def _too_large(scope: Scope, send: Send, limit: int, request_id: str) -> None:
    body = orjson.dumps(
        {
            "type": "about:blank",
            "title": "Payload Too Large",
            "status": 413,
            "detail": f"the request body is over {limit:,} bytes; send smaller batches",
            "instance": scope.get("path"),
            "request_id": request_id,
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/problem+json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
