"""What the listings share, for the API's routes and the console's pages alike: cursors, the
time and scope parameters, the Suppression Log's filters and its streamed CSV download.

Cursors are the last item's own identifier (its ``alert_id`` or ``request_id``), encoded;
they are never the store's global sequence number, whose gaps would tell one DNO how much the
others receive. A cursor that does not name an item the caller may see is refused with the
same message whether or not it exists elsewhere. A DNO's scope is its own network operators,
through every filter (spec §10).
"""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import Response, StreamingResponse

from poagate.api.context import context_of
from poagate.api.problems import Problem
from poagate.api.tokens import Principal
from poagate.domain.ids import IdentifierError, parse_device_id, parse_mpan, parse_network_operator
from poagate.formats.errors import InputError
from poagate.formats.jsonl import request_id as canonical_request_id
from poagate.formats.limits import MAX_ALERT_ID_LENGTH
from poagate.formats.timestamps import parse_timestamp
from poagate.service.export import csv_chunks
from poagate.store import NotVisible
from poagate.store.alerts.listings import OutcomeFilter

Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page (1 to 1000).")]
CursorParam = Annotated[
    str | None, Query(description="The next_cursor of the page before; absent for the first.")
]


def encode_cursor(identifier: str) -> str:
    return base64.urlsafe_b64encode(identifier.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise BAD_CURSOR
    try:
        identifier = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8 inside
        raise BAD_CURSOR from None
    if not _VISIBLE_ASCII.fullmatch(identifier):
        # Every identifier a cursor encodes is visible ASCII (formats.limits): a NUL inside
        # would otherwise reach PostgreSQL, which cannot hold it.
        raise BAD_CURSOR
    return identifier


# A cursor encodes an alert_id or a request_id (at most 256 characters): base64 of no more.
MAX_CURSOR_LENGTH = 4 * MAX_ALERT_ID_LENGTH // 3 + 4
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")


BAD_CURSOR = Problem(
    400,
    "Invalid cursor",
    "the cursor does not continue this listing; use the next_cursor of the page before, "
    "or none for the first page",
)


def time_param(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value, name)
    except InputError as exc:
        raise Problem(422, "Invalid request", str(exc)) from None


def scope_of(principal: Principal, network_operator: str | None) -> frozenset[str] | None:
    """The operators whose entries to list: a DNO's own, or for admin all or the one asked."""
    if network_operator is not None:
        try:
            operator = parse_network_operator(network_operator)
        except IdentifierError as exc:
            raise Problem(422, "Invalid request", str(exc)) from None
        if principal.scope is not None and operator not in principal.scope:
            return frozenset()  # nothing, rather than a hint that others exist
        return frozenset({operator})
    return principal.scope


def after(cursor: str | None) -> str | None:
    """The identifier of the item a listing continues after (None for the first page)."""
    return None if cursor is None else decode_cursor(cursor)


@contextlib.contextmanager
def cursor_checked() -> Iterator[None]:
    """A cursor naming nothing the caller may see is refused, as one that does not decode."""
    try:
        yield
    except NotVisible:
        raise BAD_CURSOR from None


def log_filter(
    principal: Principal,
    from_: str | None,
    to: str | None,
    chf_id: str | None,
    mpan: str | None,
    request_id: str | None,
    network_operator: str | None,
    released: bool | None,
) -> OutcomeFilter:
    """The Suppression Log entries the filters select, within the caller's scope (the API's
    listing and download and the console's pages); raises ``Problem`` (422) for a bad one."""
    since, until = time_param(from_, "from"), time_param(to, "to")
    try:
        chf = None if chf_id is None else parse_device_id(chf_id)
        meter = None if mpan is None else parse_mpan(mpan)
        activation = None if request_id is None else canonical_request_id(request_id)
    except (IdentifierError, InputError) as exc:
        raise Problem(422, "Invalid request", str(exc)) from None
    return OutcomeFilter(
        suppressed=True,
        network_operators=scope_of(principal, network_operator),
        since=since,
        until=until,
        chf_id=chf,
        mpan=meter,
        request_id=activation,
        released=released,
    )


def download(request: Request, which: OutcomeFilter, after_alert_id: str | None) -> Response:
    """The whole filtered range of the log as one streamed CSV (``service.export.csv_chunks``),
    named for what it holds. A cursor continues after the entry it names."""
    pool = context_of(request).reads
    if after_alert_id is not None:
        # A cursor the caller may not use is refused before the answer starts.
        with pool.borrow() as store, cursor_checked():
            store.listings.outcomes_page(which, after_alert_id, 1)
    return StreamingResponse(
        csv_chunks(pool.borrow, which, after_alert_id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{export_name(which)}"'},
    )


def export_name(which: OutcomeFilter) -> str:
    """``suppression-log[-12-13][-from-<date>][-to-<date>].csv``: what a download holds."""
    parts = ["suppression-log"]
    if which.network_operators is not None:
        parts.append("-".join(sorted(which.network_operators)) or "none")
    for word, moment in (("from", which.since), ("to", which.until)):
        if moment is not None:
            parts.append(f"{word}-{moment.strftime('%Y%m%dT%H%M%SZ')}")
    return "-".join(parts) + ".csv"
