"""Reading: the Suppression Log, the forwarded-alert feed, activations and the summary.

A DNO sees exactly its own network operators' entries and counts — through every filter,
cursor, CSV export, count and error message. Cursors, filters and the download are
``poagate.api.listing``'s, which the console's pages use too.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from poagate.api.auth import require
from poagate.api.context import context_of
from poagate.api.listing import (
    CursorParam,
    Limit,
    after,
    cursor_checked,
    download,
    encode_cursor,
    log_filter,
    scope_of,
    time_param,
)
from poagate.api.problems import Problem
from poagate.api.responses import Json
from poagate.api.schemas import (
    READ,
    ActivationPage,
    FeedPage,
    ForwardedPage,
    SummaryAnswer,
    SuppressionPage,
    documented,
)
from poagate.api.tokens import Principal
from poagate.domain.ids import IdentifierError, parse_device_id
from poagate.domain.outcomes import ForwardedAlert, SuppressionEntry
from poagate.formats.envelope import FEED_FIELDS, AlertData
from poagate.formats.records import (
    SUPPRESSION_FIELDS,
    activation_fields,
    forwarded_fields,
    suppression_fields,
    write_csv,
)
from poagate.service.feed import feed_entries
from poagate.service.reporting import summarise

router = APIRouter(tags=["reading"])

Format = Annotated[
    Literal["json", "csv"] | None,
    Query(description="csv or json; also chosen by Accept: text/csv."),
]


def wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    return "text/csv" in request.headers.get("accept", "")


def page(
    request: Request,
    items: list[tuple[str, Any]],
    limit: int,
    csv_columns: tuple[str, ...],
    as_dict: Callable[[Any], dict[str, Any]],
    fmt: str | None,
) -> Response:
    """One page of items (cursor identifier, record), as JSON or CSV."""
    more = len(items) > limit
    items = items[:limit]
    next_cursor = encode_cursor(items[-1][0]) if more and items else None
    if wants_csv(request, fmt):
        stream = io.StringIO()
        write_csv((record for _, record in items), stream, csv_columns)
        headers = {"X-Next-Cursor": next_cursor} if next_cursor else {}
        return Response(stream.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
    return Json({"items": [as_dict(record) for _, record in items], "next_cursor": next_cursor})


@router.get(
    "/v1/suppression-log",
    responses=documented(SuppressionPage, *READ, csv=True),
    summary="Suppression Log entries",
    description="Entries in decision order. A DNO sees its own network operators' entries; "
    "admin sees all (or one operator's with network_operator). Times filter received_at, "
    "from inclusive, to exclusive.",
)
def suppression_log(
    request: Request,
    principal: Annotated[Principal, Depends(require("admin", "dno"))],
    limit: Limit = 100,
    cursor: CursorParam = None,
    format: Format = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    chf_id: str | None = None,
    mpan: str | None = None,
    request_id: str | None = None,
    network_operator: str | None = None,
    released: Annotated[
        bool | None, Query(description="true: released entries only; false: the others.")
    ] = None,
    all: Annotated[
        bool,
        Query(
            description="true: the whole filtered range (after cursor, if given) as one "
            "streamed CSV download with Content-Disposition; limit does not apply."
        ),
    ] = False,
) -> Response:
    which = log_filter(principal, from_, to, chf_id, mpan, request_id, network_operator, released)
    start = after(cursor)
    if all:
        if not wants_csv(request, format):
            raise Problem(
                422,
                "Invalid request",
                "all=true downloads CSV: add format=csv (or Accept: text/csv)",
            )
        return download(request, which, start)
    with context_of(request).reads.borrow() as store, cursor_checked():
        found = store.listings.outcomes_page(which, start, limit + 1)
    items = [(outcome.alert_id, outcome) for outcome in found]
    return page(request, items, limit, SUPPRESSION_FIELDS, _suppression, format)


def _suppression(record: Any) -> dict[str, Any]:
    assert isinstance(record, SuppressionEntry)
    return suppression_fields(record)


def _forwarded(record: Any) -> dict[str, Any]:
    assert isinstance(record, ForwardedAlert)
    return forwarded_fields(record)


@router.get(
    "/v1/alerts/forwarded",
    responses=documented(FeedPage, *READ, csv=True),
    summary="Forwarded AD1s (the pull feed)",
    description="Every AD1 forwarded to the caller's network operators, in the order they "
    "were forwarded: type ad1.forwarded when it was decided, ad1.released when a guard or an "
    "operator released it (decided_at stays the decision; released_at, release_reason and the "
    "activation and window that had suppressed it say when and why). The same fields as a "
    "webhook's payload, without the message. A DNO that was down catches up by following "
    "next_cursor from where it stopped.",
)
def forwarded_feed(
    request: Request,
    principal: Annotated[Principal, Depends(require("admin", "dno"))],
    limit: Limit = 100,
    cursor: CursorParam = None,
    format: Format = None,
    network_operator: str | None = None,
    from_: Annotated[
        str | None, Query(alias="from", description="AD1s received at or after this time.")
    ] = None,
    to: Annotated[str | None, Query(description="AD1s received before this time.")] = None,
) -> Response:
    since, until = time_param(from_, "from"), time_param(to, "to")
    scope = scope_of(principal, network_operator)
    return feed(request, scope, limit, cursor, format, since, until)


def feed(
    request: Request,
    scope: frozenset[str] | None,
    limit: int,
    cursor: str | None,
    fmt: str | None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Response:
    """A page of the forwarded feed of the operators in ``scope`` (None: all), AD1s received
    in [since, until)."""
    start = after(cursor)
    with context_of(request).reads.borrow() as store, cursor_checked():
        found = feed_entries(store, scope, start, limit + 1, since, until)
    items = [(entry.alert_id, entry) for entry in found]
    return page(request, items, limit, FEED_FIELDS, _feed_entry, fmt)


def _feed_entry(record: Any) -> dict[str, Any]:
    assert isinstance(record, AlertData)
    return asdict(record)


@router.get(
    "/v1/alerts/unrouted",
    responses=documented(ForwardedPage, *READ, csv=True),
    summary="Forwarded AD1s that reached no DNO (admin)",
    description="AD1s whose hub no ESME of the inventory is joined to: forwarded (R7) with an "
    "empty network_operator (R8), so in no DNO's feed. In the order they were forwarded; "
    "follow next_cursor as for the feed.",
)
def unrouted(
    request: Request,
    principal: Annotated[Principal, Depends(require("admin"))],
    limit: Limit = 100,
    cursor: CursorParam = None,
    format: Format = None,
) -> Response:
    return feed(request, frozenset({""}), limit, cursor, format)  # "": no network operator


@router.get(
    "/v1/activations",
    responses=documented(ActivationPage, *READ),
    summary="Activation records (admin)",
    description="One record per request_id, in first-seen order; filter by device and status.",
)
def activations(
    request: Request,
    principal: Annotated[Principal, Depends(require("admin"))],
    limit: Limit = 100,
    cursor: CursorParam = None,
    device_id: str | None = None,
    status: Literal["active", "cancelled", "superseded"] | None = None,
) -> Json:
    try:
        device = None if device_id is None else parse_device_id(device_id)
    except IdentifierError as exc:
        raise Problem(422, "Invalid request", str(exc)) from None
    start = after(cursor)
    with context_of(request).reads.borrow() as store, cursor_checked():
        rows = store.activations.page(
            device_id=device, status=status, after_request_id=start, limit=limit + 1
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return Json(
        {
            "items": [activation_fields(record) for record in rows],
            "next_cursor": encode_cursor(rows[-1].request_id) if more and rows else None,
        }
    )


@router.get(
    "/v1/summary",
    responses=documented(SummaryAnswer, *READ),
    summary="Counts, scoped to the caller",
    description="A DNO: the suppressed, released and forwarded AD1s of its own network "
    "operators, and nothing of others. Admin: without from, to or bucket the figures of the "
    "whole store and the delivery queue; with them, the same counts as a DNO's, for every "
    "operator or the one asked. from/to select AD1s by received_at (from inclusive, to "
    "exclusive); bucket=day adds the counts of every UTC day of the range (zeros included), "
    "each AD1 on the day it was received and released counting those of them released since.",
)
def summary(
    request: Request,
    principal: Annotated[Principal, Depends(require("admin", "dno"))],
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    bucket: Annotated[Literal["day"] | None, Query(description="day: counts per day.")] = None,
    network_operator: str | None = None,
) -> Json:
    since, until = time_param(from_, "from"), time_param(to, "to")
    scope = scope_of(principal, network_operator)
    with context_of(request).reads.borrow() as store:
        if scope is None and since is None and until is None and bucket is None:
            by_operator = store.listings.counts_by_network_operator(None)
            return Json(
                {
                    **store.counts(),
                    "ad1_unrouted": store.listings.unrouted_count(),
                    "by_network_operator": _by_operator(by_operator),
                    "deliveries": store.outbox.counts(),
                }
            )
        try:
            found = summarise(store, scope, since, until, daily=bucket == "day")
        except ValueError as exc:
            raise Problem(422, "Invalid request", str(exc)) from None
    answer: dict[str, Any] = {
        "network_operators": found.network_operators,
        "from": found.since,
        "to": found.until,
        "ad1_suppressed": found.totals.suppressed,
        "ad1_released": found.totals.released,
        "ad1_forwarded": found.totals.forwarded,
        "by_network_operator": found.by_network_operator,
    }
    if found.days is not None:
        answer["days"] = found.days
    return Json(answer)


def _by_operator(counts: dict[str, tuple[int, int]]) -> dict[str, dict[str, int]]:
    return {o: {"suppressed": s, "forwarded": f} for o, (s, f) in counts.items()}
