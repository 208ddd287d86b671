"""What a DNO reads, and DCC operations too (for every DNO): the Suppression Log with its
filters, pages, download and daily chart; the forwarded feed; one alert's explanation.

Every read is the API's: the filters are ``listing.log_filter`` (the caller's scope
included, from ``scope_of``), pages continue with the API's cursors, the download is the
API's streamed CSV (``listing.download``), the chart's figures are
``service.reporting.summarise``'s and an explanation is ``service.explain``'s. So a DNO's
session sees exactly what its token sees through the API: its own operators' entries, and
for anything else the same answer as for what does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from poagate.api.console.charts import daily_chart
from poagate.api.console.sessions import CurrentSession, Session
from poagate.api.console.web import Refusal, render
from poagate.api.context import context_of
from poagate.api.listing import (
    after,
    cursor_checked,
    download,
    encode_cursor,
    log_filter,
    scope_of,
    time_param,
)
from poagate.api.problems import Problem
from poagate.service.explain import explain
from poagate.service.reporting import summarise
from poagate.store.alerts.listings import OutcomeFilter

router = APIRouter(prefix="/ui", include_in_schema=False)
PAGE = 50  # entries a page
CHART_DAYS = 92  # the chart shows at most the last this many days of the range
From = Annotated[str, Query(alias="from")]
LOG_FILTERS = ("from", "to", "mpan", "chf_id", "request_id", "released", "network_operator")
RELEASED = {"": None, "true": True, "false": False}


def log_filters(request: Request) -> dict[str, str]:
    """The log's filters as given (strings, blank when absent), to show back and link to."""
    return {name: request.query_params.get(name, "").strip() for name in LOG_FILTERS}


def selection(session: Session, filters: dict[str, str]) -> OutcomeFilter:
    """The entries the filters select, in the session's scope; raises ``Problem``."""
    if filters["released"] not in RELEASED:
        raise Problem(422, "Invalid request", "released must be true, false or empty")
    return log_filter(
        session.principal,
        filters["from"] or None,
        filters["to"] or None,
        filters["chf_id"] or None,
        filters["mpan"] or None,
        filters["request_id"] or None,
        filters["network_operator"] or None,
        RELEASED[filters["released"]],
    )


@router.get("/")
def suppression_log(request: Request, session: CurrentSession, cursor: str = "") -> Response:
    filters = log_filters(request)
    values: dict[str, Any] = {"filters": filters, "entries": [], "next_cursor": None}
    values |= {"chart": None, "days": []}
    try:
        which = selection(session, filters)
        with context_of(request).reads.borrow() as store:
            with cursor_checked():
                found = store.listings.outcomes_page(which, after(cursor or None), PAGE + 1)
            try:
                # The chart is on the first page only: it reads every AD1 of the range.
                summary = (
                    None
                    if cursor
                    else summarise(
                        store, which.network_operators, which.since, which.until, daily=True
                    )
                )
            except ValueError as exc:
                raise Problem(422, "Invalid request", str(exc)) from None
    except Problem as problem:
        return render(request, "log.html.j2", problem.status, message=problem.detail, **values)
    values["entries"] = found[:PAGE]
    if len(found) > PAGE:
        values["next_cursor"] = encode_cursor(found[PAGE - 1].alert_id)
    if summary is None:
        return render(request, "log.html.j2", **values)
    days = list(summary.days or ())[-CHART_DAYS:]
    values["days"] = days
    if days:
        caption = (
            f"Suppressed, released and forwarded AD1s per day, {days[0].day.isoformat()} "
            f"to {days[-1].day.isoformat()}"
        )
        values["chart"] = daily_chart(days, caption)
    return render(request, "log.html.j2", **values)


@router.get("/export.csv")
def export(request: Request, session: CurrentSession) -> Response:
    """The whole filtered range as one CSV download, streamed: the API's ``all=true``."""
    filters = log_filters(request)
    try:
        which = selection(session, filters)
    except Problem as problem:
        values: dict[str, Any] = {"filters": filters, "entries": [], "next_cursor": None}
        return render(
            request,
            "log.html.j2",
            problem.status,
            message=problem.detail,
            chart=None,
            days=[],
            **values,
        )
    return download(request, which, None)


@router.get("/feed")
def feed(
    request: Request,
    session: CurrentSession,
    from_: From = "",
    to: str = "",
    network_operator: str = "",
    cursor: str = "",
) -> Response:
    """The forwarded feed: AD1s forwarded at once or released later, in the order sent."""
    filters = {"from": from_.strip(), "to": to.strip(), "network_operator": network_operator}
    values: dict[str, Any] = {"filters": filters, "alerts": [], "next_cursor": None}
    try:
        since = time_param(filters["from"] or None, "from")
        until = time_param(filters["to"] or None, "to")
        scope = scope_of(session.principal, network_operator.strip() or None)
        with context_of(request).reads.borrow() as store, cursor_checked():
            found = store.listings.feed_page(scope, after(cursor or None), PAGE + 1, since, until)
    except Problem as problem:
        return render(request, "feed.html.j2", problem.status, message=problem.detail, **values)
    values["alerts"] = found[:PAGE]
    if len(found) > PAGE:
        values["next_cursor"] = encode_cursor(found[PAGE - 1].alert_id)
    return render(request, "feed.html.j2", **values)


@router.get("/alerts/{alert_id:path}")
def explanation(
    request: Request,
    session: CurrentSession,
    alert_id: Annotated[str, Path()],
) -> Response:
    """Why one AD1 had its outcome; another DNO's alert is not found, as an unknown one."""
    found = None
    if 0 < len(alert_id) <= 256:
        with context_of(request).reads.borrow() as store:
            found = explain(store, alert_id, session.scope)
    if found is None:
        raise Refusal(404, "Not found", "There is no decided AD1 with that alert id for you.")
    return render(request, "explain.html.j2", alert=found)
