"""Errors as ``application/problem+json`` (RFC 9457) that say what was wrong and what to do."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from poagate.formats.limits import error_text
from poagate.store import StoreUnavailableError, StoreValueError

log = logging.getLogger("poagate.api")
PROBLEM = "application/problem+json"
RETRY_AFTER_SECONDS = 2


class Problem(Exception):  # noqa: N818 - it is a problem document, raised
    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}  # members of the problem document beside the standard ones


def problem_response(
    request: Request,
    status: int,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": error_text(detail),  # it may quote the input: never an echo of a megabyte
        "instance": request.url.path,
        "request_id": getattr(request.state, "request_id", None),
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


async def on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(request, exc.status, exc.title, exc.detail, exc.headers, **exc.extra)


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    titles = {
        400: "Bad Request",
        401: "Unauthorized",
        404: "Not Found",
        405: "Method Not Allowed",
    }
    return problem_response(
        request,
        exc.status_code,
        titles.get(exc.status_code, "Error"),
        str(exc.detail),
        dict(exc.headers or {}),
    )


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "where": error_text(".".join(str(p) for p in e.get("loc", ()))),
            "error": error_text(str(e.get("msg", ""))),
        }
        for e in exc.errors()[:20]
    ]
    detail = "; ".join(f"{e['where']}: {e['error']}" if e["where"] else e["error"] for e in errors)
    return problem_response(request, 422, "Invalid request", detail, errors=errors)


async def on_store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("answered 503: %s", exc)  # the reason for operations, not for the caller
    return problem_response(
        request,
        503,
        "Store unavailable",
        "the database cannot be reached, is too busy or cannot write (full, read-only, "
        "failing over); nothing of this request was kept: send it again after Retry-After "
        "(an item already decided is answered as a duplicate: each AD1 gets one outcome)",
        {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def on_store_value(request: Request, exc: Exception) -> JSONResponse:
    log.warning("answered 422: %s", exc)
    return problem_response(
        request,
        422,
        "Invalid request",
        "a value of this request cannot be stored (a NUL or other control character in "
        "text?); nothing of it was kept",
    )


async def on_client_disconnect(request: Request, exc: Exception) -> JSONResponse:
    """A client that closed its connection before its request body had all arrived (a load
    generator stopping, a DSP's client timing out): nothing of the request was read, so
    nothing of it was kept. Logged as information, not as the server's error with a
    traceback; the answer goes nowhere, but says so should the connection still be there."""
    log.info(
        "%s %s: the client closed the connection before its request had all arrived; "
        "nothing of it was kept",
        request.method,
        request.url.path,
    )
    return problem_response(
        request,
        400,
        "Request incomplete",
        "the connection closed before the request body had all arrived; nothing of it was "
        "kept: send it again",
    )


HANDLERS: dict[type[Exception], Any] = {
    Problem: on_problem,
    StarletteHTTPException: on_http_error,
    RequestValidationError: on_validation_error,
    StoreUnavailableError: on_store_unavailable,
    StoreValueError: on_store_value,
    ClientDisconnect: on_client_disconnect,
}
