"""Counts for DNO systems and the console's chart (spec §12 reporting): the AD1s suppressed,
released and forwarded, over a range of ``received_at`` and per UTC day, scoped to the
caller's network operators in the query itself.

Every AD1 is counted on the day the DSP received it, as every listing filters: ``suppressed``
counts the AD1s suppressed at their decision, ``released`` those of them released since (by a
guard or an operator), ``forwarded`` those forwarded at once. So ``released ≤ suppressed`` on
every day, and a day's figures describe the AD1s of that day.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from poagate.domain.values import value
from poagate.store.alerts.listings import OutcomeFilter
from poagate.store.ports import LogReaders

MAX_DAYS = 3_660  # about ten years of daily buckets in one answer


@value
class Counts:
    suppressed: int = 0
    released: int = 0
    forwarded: int = 0


@value
class Day:
    day: date
    suppressed: int
    released: int
    forwarded: int


@value
class Summary:
    network_operators: tuple[str, ...] | None  # None: every operator (admin)
    since: datetime | None
    until: datetime | None
    totals: Counts
    by_network_operator: dict[str, Counts]
    days: tuple[Day, ...] | None  # with bucket=day: every day of the range, zeros included


def summarise(
    store: LogReaders,
    network_operators: frozenset[str] | None,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    daily: bool = False,
) -> Summary:
    """The counts of the AD1s received in [since, until) of ``network_operators`` (None:
    all); with ``daily``, per day too. Raises ``ValueError`` for a range of more than
    ``MAX_DAYS`` days with ``daily``."""
    if since is not None and until is not None and until <= since:
        raise ValueError("to must be after from")
    if daily and since is not None and until is not None and _days(since, until) > MAX_DAYS:
        raise ValueError(f"bucket=day answers at most {MAX_DAYS:,} days; narrow from and to")
    rows = store.listings.daily_counts(
        OutcomeFilter(network_operators=network_operators, since=since, until=until)
    )
    by_operator: dict[str, list[int]] = {o: [0, 0, 0] for o in network_operators or ()}
    by_day: dict[date, list[int]] = {}
    for row in rows:
        for sums in (by_operator.setdefault(row.network_operator, [0, 0, 0]),
                     by_day.setdefault(row.day, [0, 0, 0])):  # fmt: skip
            sums[0] += row.suppressed
            sums[1] += row.released
            sums[2] += row.forwarded
    total = [sum(c[i] for c in by_operator.values()) for i in range(3)]
    days: tuple[Day, ...] | None = None
    if daily:
        first = since.date() if since is not None else min(by_day, default=None)
        last = (until - timedelta(microseconds=1)).date() if until is not None else None
        last = last if last is not None else max(by_day, default=None)
        days = ()
        if first is not None and last is not None:
            if (last - first).days + 1 > MAX_DAYS:
                raise ValueError(f"bucket=day answers at most {MAX_DAYS:,} days; give from and to")
            days = tuple(
                Day(d, *by_day.get(d, (0, 0, 0)))
                for d in (first + timedelta(days=n) for n in range((last - first).days + 1))
            )
    return Summary(
        None if network_operators is None else tuple(sorted(network_operators)),
        since,
        until,
        Counts(*total),
        {o: Counts(*c) for o, c in sorted(by_operator.items())},
        days,
    )


def _days(since: datetime, until: datetime) -> int:
    return ((until - timedelta(microseconds=1)).date() - since.date()).days + 1
