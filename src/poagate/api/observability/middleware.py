"""Request ids, the request body limit, the refusal of control characters in a request's
target (``api.edge``), the access log and the HTTP metrics, as plain ASGI middleware
(``RequestContext``)."""

from __future__ import annotations

import logging
import os
import re
import time

import orjson
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from poagate.api.edge import control_character_in
from poagate.api.observability.logs import request_id_var

_SENSIBLE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")  # a caller's X-Request-ID worth keeping

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
            where = control_character_in(scope)
            if where is not None:
                detail = (
                    f"the request's {where} holds a control character (NUL, CR, LF, …): no "
                    "identifier, cursor or filter poagate reads has one"
                )
                await _problem(scope, send_with_id, 400, "Bad Request", detail, request_id)
                return
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
    detail = f"the request body is over {limit:,} bytes; " + (
        "load a file this large with the command line (poagate inventory load, "
        "poagate guid-list load) or raise the server's POAGATE_REFERENCE_LIMIT_BYTES"
        if str(scope.get("path", "")).startswith("/v1/reference/")
        else "send smaller batches"
    )
    await _problem(scope, send, 413, "Payload Too Large", detail, request_id)


async def _problem(
    scope: Scope, send: Send, status: int, title: str, detail: str, request_id: str
) -> None:
    body = orjson.dumps(
        {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": scope.get("path"),
            "request_id": request_id,
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/problem+json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
