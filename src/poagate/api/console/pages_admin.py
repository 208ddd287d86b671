"""DCC operations' pages (admin): the incident controls of spec §12 — release, end a window,
suspend and resume — and deliveries with retry, reference-data versions, the configuration
(read only) and the audit log.

Every act is the API's and the command line's: ``service.controls`` (release, end_window,
set_suppression) and ``store.outbox.retry``, run on the writer connection in turn with the
decisions, each audited with the session's token as the actor and the channel console. Every
form is a POST carrying the session's CSRF token, checked before anything is done.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from poagate.api.console.sessions import AdminForm, CurrentSession, admin_only
from poagate.api.console.web import Refusal, redirect, render
from poagate.api.context import context_of
from poagate.api.listing import after, encode_cursor
from poagate.api.observability.counters import RELEASES
from poagate.api.problems import Problem
from poagate.domain.outcomes import OPERATOR
from poagate.formats.errors import InputError
from poagate.formats.jsonl import request_id as canonical_request_id
from poagate.formats.limits import parse_id
from poagate.service import controls
from poagate.service.acts import checked_note
from poagate.store.activations import WindowNotEndable
from poagate.store.store import Store

router = APIRouter(prefix="/ui", include_in_schema=False)
PAGE = 100
Text = Annotated[str, Form()]


def _back(path: str) -> str:
    """Where a form returns to: one of the console's own pages, else the log."""
    return path if path.startswith("/ui/") else "/ui/"


def number(text: str) -> int:
    """A page link's position (a row's number): anything else starts from the first page."""
    found = parse_id(text.strip())
    return found if found is not None and found < 10**12 else 0


def _done(request: Request, title: str, text: str, back: str, status: int = 200) -> Response:
    return render(request, "done.html.j2", status, title=title, text=text, back=_back(back))


# -- the suppression switch (shown on every admin page) ------------------------------------------


@router.post("/suppression")
async def switch(
    request: Request,
    session: AdminForm,
    enabled: Text = "",
    note: Text = "",
    back: Text = "/ui/",
) -> Response:
    if enabled not in ("true", "false"):
        raise Refusal(422, "Invalid request", "enabled must be true or false")
    context = context_of(request)
    now = context.options.clock()
    actor = session.principal.acting("console")
    try:
        await context.ingestor.call(
            lambda store: controls.set_suppression(store, enabled == "true", actor, now, note)
        )
    except ValueError as exc:
        raise Refusal(422, "Invalid request", str(exc)) from None
    return redirect(_back(back))


# -- release ---------------------------------------------------------------------------------


@router.post("/release")
async def release(
    request: Request,
    session: AdminForm,
    alert_id: Annotated[list[str] | None, Form()] = None,
    chf_id: Text = "",
    network_operator: Text = "",
    from_: Annotated[str, Form(alias="from")] = "",
    to: Text = "",
    note: Text = "",
    back: Text = "/ui/",
) -> Response:
    """Release the selected entries, a hub's, or one DNO's over a range."""
    try:
        # A blank field is one not given (a form sends every field).
        wanted = controls.ReleaseRequest.parse(
            alert_id,
            chf_id if chf_id.strip() else None,
            network_operator if network_operator.strip() else None,
            from_.strip() or None,
            to.strip() or None,
        )
        note_text = checked_note(note)
    except ValueError as exc:
        raise Refusal(422, "Nothing released", str(exc)) from None
    context = context_of(request)
    now = context.options.clock()
    actor = session.principal.acting("console")
    done = await context.ingestor.call(
        lambda store: controls.release(store, wanted, actor, now, note_text)
    )
    if done.released:
        RELEASES.labels(OPERATOR).inc(done.released)
    text = f"Released {done.released:,} entries; {done.already_released:,} were released before."
    if done.not_in_log:
        text += f" {len(done.not_in_log):,} alert ids are no Suppression Log entry."
    return _done(request, "Released", text, back)


# -- windows ----------------------------------------------------------------------------------


@router.get("/windows")
def windows(request: Request, session: CurrentSession, cursor: str = "") -> Response:
    """The open windows (not ended, not cancelled or superseded, ending after now)."""
    admin_only(session)
    context = context_of(request)
    now = context.options.clock()
    values: dict[str, Any] = {"windows": [], "next_cursor": None}
    try:
        with context.reads.borrow() as store:
            found = store.activations.windows_page(
                open_at=now,
                chf_id=None,
                network_operators=None,
                after_request_id=after(cursor or None),
                limit=PAGE + 1,
            )
    except (LookupError, Problem):
        message = "That page link does not continue this list: start from the first page."
        return render(request, "windows.html.j2", 400, message=message, **values)
    values["windows"] = [controls.window_view(w, now) for w in found[:PAGE]]
    if len(found) > PAGE:
        values["next_cursor"] = encode_cursor(found[PAGE - 1].activation.request_id)
    return render(request, "windows.html.j2", **values)


@router.post("/windows/end")
async def end_window(
    request: Request,
    session: AdminForm,
    request_id: Text = "",
    note: Text = "",
) -> Response:
    try:
        canonical = canonical_request_id(request_id.strip())
    except InputError as exc:
        raise Refusal(422, "Invalid request", str(exc)) from None
    context = context_of(request)
    now = context.options.clock()
    actor = session.principal.acting("console")

    def end(store: Store) -> controls.WindowView:
        return controls.window_view(controls.end_window(store, canonical, actor, now, note), now)

    try:
        window = await context.ingestor.call(end)
    except WindowNotEndable as exc:
        status = 404 if not exc.found else 409
        raise Refusal(status, "Not ended", f"{canonical}: {exc.reason}") from None
    except ValueError as exc:
        raise Refusal(422, "Not ended", str(exc)) from None
    text = f"The window of {window.request_id} ended at {window.ended_at:%Y-%m-%d %H:%M:%S}Z."
    return _done(request, "Window ended", text, "/ui/windows")


# -- deliveries --------------------------------------------------------------------------------

STATUSES = ("dead", "pending", "delivered")


@router.get("/deliveries")
def deliveries(
    request: Request,
    session: CurrentSession,
    status: str = "dead",
    after_id: str = "0",
) -> Response:
    admin_only(session)
    status = status if status in STATUSES else "dead"
    with context_of(request).reads.borrow() as store:
        items = store.outbox.listing(status, number(after_id), PAGE + 1)
        counts = store.outbox.counts()
    more = items[PAGE - 1].id if len(items) > PAGE else None
    return render(
        request,
        "deliveries.html.j2",
        status=status,
        statuses=STATUSES,
        items=items[:PAGE],
        counts=counts,
        more=more,
    )


@router.post("/deliveries/retry")
async def retry(request: Request, session: AdminForm, delivery_id: Text = "") -> Response:
    wanted = parse_id(delivery_id)
    if not wanted:  # None (not ASCII digits, too large) or 0
        raise Refusal(422, "Invalid request", "delivery_id must be a delivery's number")
    context = context_of(request)
    now = context.options.clock()
    actor = session.principal.acting("console")
    if not await context.ingestor.call(lambda store: store.outbox.retry(wanted, now, actor)):
        raise Refusal(404, "Not retried", f"There is no dead delivery {wanted}.")
    text = f"Delivery {wanted} will be sent again."
    return _done(request, "Retrying", text, "/ui/deliveries")


# -- reference data, configuration, audit ----------------------------------------------------


@router.get("/reference")
def reference(request: Request, session: CurrentSession) -> Response:
    admin_only(session)
    with context_of(request).reads.borrow() as store:
        inventory = store.fleet.versions(0, 1000)
        in_force = store.fleet.base() or None
        guid_lists = store.reference.guid_list_versions()
        guid_version = store.reference.guid_version()  # after a rollback, not the latest
    return render(
        request,
        "reference.html.j2",
        inventory=inventory,
        in_force=in_force,
        guid_lists=guid_lists,
        guid_in_force=None if guid_version is None else guid_version.number,
    )


def flattened(settings: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A nested setting as rows of (dotted name, value as JSON)."""
    if isinstance(settings, dict) and settings:
        rows: list[tuple[str, str]] = []
        for key, value in settings.items():
            rows += flattened(value, f"{prefix}.{key}" if prefix else str(key))
        return rows
    return [(prefix, orjson.dumps(settings).decode())]


@router.get("/config")
def config(request: Request, session: CurrentSession) -> Response:
    """The configuration in force as ``GET /v1/config`` shows it: no secret, not even a part."""
    admin_only(session)
    with context_of(request).reads.borrow() as store:
        shown = store.reference.settings().masked()
    return render(request, "config.html.j2", rows=flattened(shown))


@router.get("/audit")
def audit(
    request: Request,
    session: CurrentSession,
    after_seq: str = "0",
) -> Response:
    admin_only(session)
    with context_of(request).reads.borrow() as store:
        entries = store.audit.entries(number(after_seq), PAGE + 1)
    rows = [(e, orjson.dumps(e.detail).decode()) for e in entries[:PAGE]]
    more = entries[PAGE - 1].seq if len(entries) > PAGE else None
    return render(request, "audit.html.j2", rows=rows, more=more)
