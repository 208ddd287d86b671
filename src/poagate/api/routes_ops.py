"""Operations: liveness, readiness, metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from poagate.api.context import context_of
from poagate.api.observability import metrics_payload
from poagate.api.problems import Problem
from poagate.api.responses import Json
from poagate.store import StoreError

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_class=Json, summary="The process is alive")
def healthz() -> Json:
    return Json({"status": "ok"})


@router.get("/readyz", response_class=Json, summary="The store can be reached")
def readyz(request: Request) -> Json:
    try:
        with context_of(request).reads.borrow(wait_seconds=2) as store:
            store.meta("readiness")
    except StoreError as exc:
        raise Problem(
            503, "Not ready", f"the store cannot be reached: {exc}", {"Retry-After": "2"}
        ) from None
    return Json({"status": "ready"})


@router.get("/metrics", summary="Prometheus metrics")
def metrics(request: Request) -> Response:
    payload, content_type = metrics_payload(request.app.state.gauges)
    return Response(payload, media_type=content_type)
