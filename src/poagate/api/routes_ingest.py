"""``POST /v1/messages``: the DSP's messages in, the decisions out."""

from __future__ import annotations

import time
from collections import Counter

from fastapi import APIRouter, Request

from poagate.api.answers import answer
from poagate.api.auth import BEARER, caller
from poagate.api.context import context_of
from poagate.api.observability.counters import DECISION_SECONDS
from poagate.api.problems import Problem
from poagate.api.responses import Json
from poagate.api.schemas import MessagesAnswer, documented
from poagate.service.messages import (
    SUPPORTED,
    TooManyLinesError,
    UnsupportedMediaTypeError,
    items_of,
)

router = APIRouter(tags=["messages"])

BODY_DOC = (
    "One DUIS message (`application/xml`), one JSON event (`application/json`), or a batch of "
    "JSON events, one a line (`application/x-ndjson`). Events are poagate's JSON Lines events; the "
    "server stamps `received_at`, and only a `dsp` caller may supply its own (a back-fill)."
)


@router.post(
    "/v1/messages",
    response_class=Json,
    responses=documented(MessagesAnswer, 400, 401, 403, 413, 415, 503),
    summary="Submit messages for a decision",
    description=BODY_DOC
    + " The answer gives every item's outcome — suppressed, forwarded, duplicate, recorded, "
    "ignored, or rejected with the reason — by its position (1-based; for JSON Lines, its line). "
    "Every decision is durable before the answer is sent.",
    openapi_extra={
        "security": [{BEARER.scheme_name: []}],
        "requestBody": {
            "required": True,
            "content": {media: {"schema": {"type": "string"}} for media in SUPPORTED},
        },
    },
)
async def post_messages(request: Request) -> Json:
    arrived = time.perf_counter()
    principal = await caller(request, "dsp", "admin")  # not a dependency: see ``caller``
    context = context_of(request)
    received_at = context.options.clock()
    body = await request.body()
    if not body.strip():
        raise Problem(400, "Empty body", "the request has no message; send at least one")
    try:
        items = items_of(
            body, request.headers.get("content-type"), received_at, principal.role == "dsp"
        )
    except UnsupportedMediaTypeError as exc:
        raise Problem(415, "Unsupported Media Type", str(exc)) from None
    except TooManyLinesError as exc:
        raise Problem(413, "Too many messages", str(exc)) from None
    if not items:
        raise Problem(400, "Empty body", "the request has no message; send at least one")
    source = f"POST /v1/messages {request.state.request_id}"
    results = await context.ingestor.submit(source, items)
    answers = [answer(r) for r in results]
    DECISION_SECONDS.observe(time.perf_counter() - arrived)
    return Json(
        {
            "request_id": request.state.request_id,
            "received_at": received_at,
            "counts": dict(Counter(a["outcome"] for a in answers)),
            "items": answers,
        }
    )
