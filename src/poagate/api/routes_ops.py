"""Operations: liveness, readiness, metrics.

``/healthz`` and ``/readyz`` answer anyone (a load balancer has no token) and say nothing but
ok or not; ``/metrics`` holds figures of every DNO, so it needs an admin token (spec §10: a DNO
sees nothing of others, not even counts).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from poagate.api.auth import require
from poagate.api.context import AppContext, context_of
from poagate.api.observability.gauges import metrics_payload
from poagate.api.problems import RETRY_AFTER_SECONDS, Problem
from poagate.api.responses import Json
from poagate.api.schemas import Status, documented
from poagate.api.tokens import Principal
from poagate.store import StoreError, StoreUnavailableError

# The meta key readiness writes to when it must find out whether the store takes writes.
PROBE_KEY = "readiness_probe"

router = APIRouter(tags=["operations"])
log = logging.getLogger("poagate.api")


@router.get(
    "/healthz",
    response_class=Json,
    responses=documented(Status),
    summary="The process is alive",
)
def healthz() -> Json:
    return Json({"status": "ok"})


@router.get(
    "/readyz",
    response_class=Json,
    responses=documented(Status, 503),
    summary="The store can be reached and takes writes",
)
async def readyz(request: Request) -> Json:
    """Ready when the store answers a read and this process's last write succeeded; after a
    write failed (disk full, read-only, lost, no primary), or before any was tried, one small
    write is tried here, and the process is not ready until one succeeds (spec §17)."""
    context = context_of(request)
    try:
        await asyncio.to_thread(_read, context)
        if context.ingestor.writable is not True:
            # A value never written before: SQLite writes nothing for a row left as it was.
            mark = f"{context.options.clock().isoformat()} {time.monotonic_ns()}"
            if not await context.ingestor.probe(lambda store: store.set_meta(PROBE_KEY, mark)):
                raise StoreUnavailableError("a write to the store failed")
    except StoreError as exc:
        # The reason goes to the log, not to whoever asks: it names hosts and errors.
        log.warning("not ready: %s", exc)
        raise Problem(
            503,
            "Not ready",
            "the store cannot be reached or cannot write",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None
    return Json({"status": "ready"})


def _read(context: AppContext) -> None:
    with context.reads.borrow(wait_seconds=2) as store:
        store.meta("readiness")


@router.get(
    "/metrics",
    response_class=Response,
    responses=documented(None, 401, 403, 503, text=True),
    summary="Prometheus metrics (admin)",
)
def metrics(
    request: Request, principal: Annotated[Principal, Depends(require("admin"))]
) -> Response:
    payload, content_type = metrics_payload(request.app.state.gauges)
    return Response(payload, media_type=content_type)
