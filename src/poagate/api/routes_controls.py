"""The incident controls (spec §12) over HTTP: windows listed and ended, entries released, one
alert explained, and the suppression switch's state (suspend and resume are ``PUT /v1/config``
with ``suppression_enabled``). The acts are ``poagate.service.controls``'; these routes only
parse, call and answer. Writes run on the writer connection, in turn with the decisions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from poagate.api.auth import require
from poagate.api.context import context_of
from poagate.api.listing import after, encode_cursor, scope_of
from poagate.api.observability.counters import RELEASES
from poagate.api.problems import Problem
from poagate.api.responses import Json
from poagate.api.schemas import ADMIN, READ, documented
from poagate.api.tokens import Principal
from poagate.domain.ids import IdentifierError, parse_device_id
from poagate.domain.outcomes import OPERATOR
from poagate.formats.errors import InputError
from poagate.formats.jsonl import request_id as canonical_request_id
from poagate.service import controls
from poagate.service.acts import NOTE_LIMIT, checked_note
from poagate.service.explain import Explanation, explain
from poagate.store.activations import WindowNotEndable
from poagate.store.store import Store

router = APIRouter(tags=["incident controls"])
Admin = Annotated[Principal, Depends(require("admin"))]
NOT_FOUND_ALERT = "no decided AD1 with that alert_id that this token may see"


def _invalid(exc: Exception) -> Problem:
    return Problem(422, "Invalid request", str(exc))


# -- the suppression switch ---------------------------------------------------------------------


@router.get(
    "/v1/suppression",
    responses=documented(None, 401, 403, 503),
    response_class=Json,
    response_model=controls.SuppressionState,
    summary="Whether the gate suppresses (admin)",
    description="The switch and the act that set it. Suspend and resume with PUT /v1/config "
    '{"suppression_enabled": false} or true (or poagate suspend / resume).',
)
def suppression(request: Request, principal: Admin) -> Json:
    with context_of(request).reads.borrow() as store:
        return Json(controls.suppression_state(store))


# -- windows ------------------------------------------------------------------------------------


class WindowsPage(BaseModel):
    items: list[controls.WindowView]
    next_cursor: str | None


@router.get(
    "/v1/windows",
    responses=documented(None, *ADMIN),
    response_class=Json,
    response_model=WindowsPage,
    summary="Windows (admin)",
    description="open=true (the default): the windows that may still suppress — not ended, "
    "not cancelled or superseded, ending after now, whether started (state open) or "
    "scheduled. open=false: every window ever opened. In first-seen order.",
)
def windows(
    request: Request,
    principal: Admin,
    open: bool = True,
    chf_id: str | None = None,
    network_operator: str | None = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the page before.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Json:
    try:
        hub = None if chf_id is None else parse_device_id(chf_id)
    except IdentifierError as exc:
        raise _invalid(exc) from None
    context = context_of(request)
    now = context.options.clock()
    with context.reads.borrow() as store:
        try:
            found = store.activations.windows_page(
                open_at=now if open else None,
                chf_id=hub,
                network_operators=scope_of(principal, network_operator),
                after_request_id=after(cursor),
                limit=limit + 1,
            )
        except LookupError:
            raise Problem(
                400, "Invalid cursor", "the cursor does not continue this listing"
            ) from None
    more = len(found) > limit
    found = found[:limit]
    return Json(
        {
            "items": [controls.window_view(w, now) for w in found],
            "next_cursor": encode_cursor(found[-1].activation.request_id)
            if more and found
            else None,
        }
    )


class Note(BaseModel):
    note: str | None = Field(
        None, max_length=NOTE_LIMIT, description="Why (kept in the audit log)."
    )


@router.post(
    "/v1/windows/{request_id}/end",
    responses=documented(None, *ADMIN, 404, 409),
    response_class=Json,
    response_model=controls.WindowView,
    summary="End a window (admin)",
    description="From now on the window suppresses no AD1 received; AD1s received before "
    "stay as decided. 404 when the request_id opened no window, 409 when it is ended or "
    "closed unused already.",
)
async def end_window(
    request: Request,
    principal: Admin,
    request_id: Annotated[str, Path(description="UserID:TargetDeviceID:Counter")],
    body: Annotated[Note | None, Body()] = None,
) -> Json:
    try:
        canonical = canonical_request_id(request_id)
    except InputError as exc:
        raise _invalid(exc) from None
    context = context_of(request)
    now = context.options.clock()
    note = None if body is None else body.note

    def end(store: Store) -> controls.WindowView:
        return controls.window_view(
            controls.end_window(store, canonical, principal.actor, now, note), now
        )

    try:
        return Json(await context.ingestor.call(end))
    except ValueError as exc:  # the note
        raise _invalid(exc) from None
    except WindowNotEndable as exc:
        if not exc.found:
            raise Problem(404, "Not Found", f"{canonical}: {exc.reason}") from None
        raise Problem(409, "Conflict", f"{canonical}: {exc.reason}") from None


# -- releases -----------------------------------------------------------------------------------


class ReleaseBody(BaseModel):
    """One way to name the entries: alert_ids, or chf_id (optionally with from/to), or
    network_operator with from and to (on received_at, as the Suppression Log's filters)."""

    alert_ids: list[Annotated[str, Field(min_length=1, max_length=256)]] | None = Field(
        None, min_length=1, max_length=10_000
    )
    chf_id: str | None = None
    network_operator: str | None = None
    from_: str | None = Field(None, alias="from")
    to: str | None = None
    note: str | None = Field(None, max_length=NOTE_LIMIT)
    dry_run: bool = Field(False, description="Count what would be released; change nothing.")


class ReleaseAnswer(BaseModel):
    released: int = Field(description="Entries released (or, dry_run, that would be).")
    already_released: int
    not_in_log: list[str] = Field(description="alert_ids given that are no log entry.")
    dry_run: bool
    released_at: datetime


@router.post(
    "/v1/releases",
    responses=documented(None, *ADMIN),
    response_class=Json,
    response_model=ReleaseAnswer,
    summary="Release Suppression Log entries (admin)",
    description="The matching entries not yet released get released_at and release_reason "
    "operator, join the end of their DNO's forwarded feed, and their messages go to the DNO's "
    "webhook, as a guard's release does. Answers how many.",
)
async def release(request: Request, principal: Admin, body: ReleaseBody) -> Json:
    try:
        wanted = controls.ReleaseRequest.parse(
            body.alert_ids, body.chf_id, body.network_operator, body.from_, body.to
        )
        note = checked_note(body.note)
    except ValueError as exc:
        raise _invalid(exc) from None
    context = context_of(request)
    now = context.options.clock()
    done = await context.ingestor.call(
        lambda store: controls.release(
            store, wanted, principal.actor, now, note, dry_run=body.dry_run
        )
    )
    if not done.dry_run and done.released:
        RELEASES.labels(OPERATOR).inc(done.released)
    return Json(done)


# -- explain ------------------------------------------------------------------------------------


@router.get(
    "/v1/alerts/{alert_id:path}",
    responses=documented(None, *READ, 404),
    response_class=Json,
    response_model=Explanation,
    summary="Explain one AD1",
    description="Its outcome and why: the hub, the ESME and DNO it routed to, every activation "
    "of the hub with its eligibility and how its window stood, the guards' evidence, any "
    "release. A DNO may explain only its own alerts: any other id is 404, as an unknown one.",
)
def explain_alert(
    request: Request,
    principal: Annotated[Principal, Depends(require("admin", "dno"))],
    alert_id: Annotated[str, Path(min_length=1, max_length=256)],
) -> Json:
    with context_of(request).reads.borrow() as store:
        found = explain(store, alert_id, principal.scope)
    if found is None:
        raise Problem(404, "Not Found", NOT_FOUND_ALERT)
    return Json(found)
