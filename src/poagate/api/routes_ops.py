"""Operations: liveness, readiness, metrics.

``/healthz`` and ``/readyz`` answer anyone (a load balancer has no token) and say nothing but
ok or not; ``/metrics`` holds figures of every DNO, so it needs an admin token (spec §10: a DNO
sees nothing of others, not even counts).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from poagate.api.auth import require
from poagate.api.context import context_of
from poagate.api.observability.gauges import metrics_payload
from poagate.api.problems import Problem
from poagate.api.responses import Json
from poagate.api.schemas import Status, documented
from poagate.api.tokens import Principal
from poagate.store import StoreError

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
    summary="The store can be reached",
)
def readyz(request: Request) -> Json:
    try:
        with context_of(request).reads.borrow(wait_seconds=2) as store:
            store.meta("readiness")
    except StoreError as exc:
        # The reason goes to the log, not to whoever asks: it names hosts and errors.
        log.warning("not ready: %s", exc)
        raise Problem(
            503, "Not ready", "the store cannot be reached", {"Retry-After": "2"}
        ) from None
    return Json({"status": "ready"})


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
