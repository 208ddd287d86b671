"""The verification guard's queue (spec §14): what the DSP is asked to verify.

``GET /v1/verifications?status=pending`` lists the requests waiting for an answer, oldest
first, for the ``dsp`` role (and ``admin``). A request leaves the queue when a message from the
site answers it, when its deadline passes, or when its AD1 is released otherwise; the DSP
answers by posting any message from the ESME or its hub to ``POST /v1/messages``.
``status=all`` lists every request with how it ended. The cursor is the last request's own
identifier (its alert and attempt), encoded, never the store's row number.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request

from poagate.api.auth import require
from poagate.api.context import context_of
from poagate.api.listing import BAD_CURSOR, CursorParam, Limit, decode_cursor, encode_cursor
from poagate.api.responses import Json
from poagate.api.schemas import READ, VerificationPage, documented
from poagate.api.tokens import Principal
from poagate.formats.limits import parse_id
from poagate.formats.records import verification_fields

router = APIRouter(tags=["verification"])


@router.get(
    "/v1/verifications",
    response_class=Json,
    responses=documented(VerificationPage, *READ),
    summary="Verification requests for the DSP",
    description="status=pending (the default): the requests waiting for an answer, oldest "
    "first; a request leaves the queue when answered, expired or withdrawn. status=all: every "
    "request, with its outcome. Answer a request by posting any message from its ESME or hub "
    "to /v1/messages before its deadline.",
)
def verifications(
    request: Request,
    principal: Annotated[Principal, Depends(require("dsp", "admin"))],
    status: Literal["pending", "all"] = "pending",
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> Json:
    with context_of(request).reads.borrow() as store:
        after_id = 0
        if cursor is not None:
            alert_id, _, attempt_text = decode_cursor(cursor).rpartition("#")
            attempt = parse_id(attempt_text)
            if attempt is None:
                raise BAD_CURSOR
            found = store.verifications.id_of(alert_id, attempt)
            if found is None:
                raise BAD_CURSOR
            after_id = found
        read = store.verifications.queue if status == "pending" else store.verifications.listing
        rows = read(after_id, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1][1] if rows else None
    return Json(
        {
            "items": [verification_fields(r) for _, r in rows],
            "next_cursor": encode_cursor(f"{last.alert_id}#{last.attempt}")
            if more and last is not None
            else None,
        }
    )
