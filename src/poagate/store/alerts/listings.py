"""Listing decided AD1s: the Suppression Log, the forwarded feed and the counts — for the API,
the console, the exports and a replay's output files.

Listings continue after an item the caller names (its ``alert_id``), never after a number of the
store's: a scoped reader must not learn how much others receive from gaps in a global sequence.
``NotVisible`` means the named item is not one the caller may see, whether or not it exists.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from poagate.domain.outcomes import ForwardedAlert, SuppressionEntry, released_as_forwarded
from poagate.formats.timestamps import EPOCH, to_us
from poagate.store import NotVisible
from poagate.store.alerts.rows import AD1, decode_ad1
from poagate.store.schema import FEED_ROWS, LOG_ROWS
from poagate.store.sqlbase import Database


@dataclass(frozen=True, slots=True)
class OutcomeFilter:
    """Which decided AD1s to read. ``network_operators`` None means every operator's;
    ``since``/``until`` filter ``received_at`` (from inclusive, to exclusive)."""

    suppressed: bool | None = None
    network_operators: frozenset[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    chf_id: str | None = None
    mpan: str | None = None
    request_id: str | None = None
    released: bool | None = None  # a Suppression Log entry released (spec §9, §12) or not
    alert_ids: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class DayCounts:
    """The AD1s one network operator received on one UTC day: forwarded at once, suppressed,
    and of those suppressed the ones released since (spec §12 reporting)."""

    day: date
    network_operator: str
    suppressed: int
    released: int
    forwarded: int


_DAY_US = 86_400_000_000


class Listings:
    """See the module docstring."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def _scoped(
        self, where: list[str], params: list[Any], network_operators: frozenset[str] | None
    ) -> None:
        if network_operators is not None and len(network_operators) == 1:
            # one DNO (most readers): an equality lets an index on (network_operator, seq) give
            # the rows in seq order, where a list makes both backends sort what they read
            where.append("network_operator = ?")
            params.extend(network_operators)
        elif network_operators is not None:
            where.append("{in:network_operator}")
            params.append(self._db.list_param(sorted(network_operators)))

    # -- decided AD1s in decision order -----------------------------------------------------

    def ad1_outcomes(
        self, which: OutcomeFilter = OutcomeFilter()
    ) -> Iterator[SuppressionEntry | ForwardedAlert]:
        """Every decided AD1 that ``which`` selects, in decision order (streamed)."""
        for _seq, outcome in self._outcomes(which, 0, None):
            yield outcome

    def outcomes_page(
        self, which: OutcomeFilter, after_alert_id: str | None, limit: int
    ) -> list[SuppressionEntry | ForwardedAlert]:
        """Up to ``limit`` decided AD1s after the one named (the first page without one)."""
        after = 0
        if after_alert_id is not None:
            named: list[Any] = [after_alert_id]
            clauses = ["alert_id = ?"]
            if which.suppressed:
                clauses.append(LOG_ROWS)
            self._scoped(clauses, named, which.network_operators)
            seq = self._db.scalar(
                "SELECT seq FROM ad1_outcomes WHERE " + " AND ".join(clauses), named
            )
            if seq is None:
                raise NotVisible(after_alert_id)
            after = int(seq)
        return [outcome for _seq, outcome in self._outcomes(which, after, limit)]

    def _where(
        self, which: OutcomeFilter, where: list[str], params: list[Any], by_seq: bool = False
    ) -> None:
        """The conditions that select ``which`` (added to ``where`` and ``params``); ``by_seq``:
        the date range is to be checked on each row read in seq order, not looked up in an
        index."""
        if which.suppressed is not None:
            where.append(LOG_ROWS if which.suppressed else "suppressed = 0")  # literal: schema
        if which.released is not None:
            where.append("released_at IS NOT NULL" if which.released else "released_at IS NULL")
        self._scoped(where, params, which.network_operators)
        if which.alert_ids is not None:
            where.append("{in:alert_id}")
            params.append(self._db.list_param(sorted(which.alert_ids)))
        for column, wanted in (
            ("chf_id", which.chf_id),
            ("mpan", which.mpan),
            ("activation_request_id", which.request_id),
        ):
            if wanted is not None:
                where.append(f"{column} = ?")
                params.append(wanted)
        # SQLite has no statistics and prefers an index the range can use: ``+`` hides the
        # column from its planner. PostgreSQL's statistics give it the walk in seq order itself,
        # and hiding the column from them made it sort the whole range (123 ms against 0.3 ms).
        by_seq = by_seq and self._db.dialect == "sqlite"
        received = "+received_at" if by_seq else "received_at"
        if which.since is not None:
            where.append(f"{received} >= ?")
            params.append(to_us(which.since))
        if which.until is not None:
            where.append(f"{received} < ?")
            params.append(to_us(which.until))

    def count(self, which: OutcomeFilter) -> int:
        """How many decided AD1s ``which`` selects."""
        where = ["seq > 0"]
        params: list[Any] = []
        self._where(which, where, params)
        return int(
            self._db.scalar(
                "SELECT COUNT(*) FROM ad1_outcomes WHERE " + " AND ".join(where), params
            )
        )

    def _range_seqs(self, which: OutcomeFilter) -> tuple[int, int] | None:
        """The first and last seq of the Suppression Log entries of ``which``'s DNOs received
        in its date range ((0, 0) when nothing bounds it; None when the range holds none).

        Without them a DNO's page of a date range walked the DNO's entries in decision order
        from the oldest one kept (what retention keeps: 1 ms in a year's first month, 193 ms at
        its end) to the range. The range is read from ``ix_ad1_outcomes_log_received`` (DNO,
        received_at, seq), so this costs the range asked for, not what is kept. Exact, however
        far decisions follow receipt (an AD1 held for verification is decided after AD1s
        received later): the smallest and largest seq in the range bound every entry of it.
        Only for a scoped reader's log (the index leads with the DNO); an unscoped range walks
        from the start. ``seq + 0`` keeps SQLite from reading the (DNO, seq) index instead."""
        if not which.suppressed or which.since is None or which.network_operators is None:
            return 0, 0
        where = [LOG_ROWS, "received_at >= ?"]
        params: list[Any] = [to_us(which.since)]
        if which.until is not None:
            where.append("received_at < ?")
            params.append(to_us(which.until))
        self._scoped(where, params, which.network_operators)
        found = self._db.fetch(
            "SELECT MIN(seq + 0), MAX(seq + 0) FROM ad1_outcomes WHERE " + " AND ".join(where),
            params,
        )
        if not found or found[0][0] is None:
            return None
        return int(found[0][0]), int(found[0][1])

    def _outcomes(
        self, which: OutcomeFilter, after_seq: int, limit: int | None
    ) -> Iterator[tuple[int, SuppressionEntry | ForwardedAlert]]:
        seqs = self._range_seqs(which)
        if seqs is None:
            return
        where = ["seq > ?"]
        params: list[Any] = [max(after_seq, seqs[0] - 1)]
        if seqs[1]:
            # the seqs bound the range: the planners are to walk them in order, not the range
            where.append("seq <= ?")
            params.append(seqs[1])
        self._where(which, where, params, by_seq=bool(seqs[1]))
        sql = f"SELECT seq, {AD1} FROM ad1_outcomes WHERE " + " AND ".join(where)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        # A page is fetched at once; only an unbounded read streams. (PostgreSQL plans a
        # server-side cursor for its first rows, which for a page of a DNO's filtered log
        # meant walking every AD1 in seq order: 6,900 entries/s against 23 ms a page.)
        rows = self._db.stream(sql, params) if limit is None else self._db.fetch(sql, params)
        for row in rows:
            yield row[0], decode_ad1(row[1:])

    # -- the forwarded feed -------------------------------------------------------------------

    def feed_page(
        self,
        network_operators: frozenset[str] | None,
        after_alert_id: str | None = None,
        limit: int = 100,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[ForwardedAlert]:
        """Forwarded AD1s after the one named, in feed order: those forwarded at once, and the
        released Suppression Log entries as forwarded at their release; ``since``/``until``
        select AD1s received in [since, until)."""
        page = []
        for outcome in self.feed_outcomes(network_operators, after_alert_id, limit, since, until):
            if type(outcome) is SuppressionEntry:
                outcome = released_as_forwarded(outcome)
            assert type(outcome) is ForwardedAlert
            page.append(outcome)
        return page

    def feed_outcomes(
        self,
        network_operators: frozenset[str] | None,
        after_alert_id: str | None = None,
        limit: int = 100,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[ForwardedAlert | SuppressionEntry]:
        """The feed's AD1s as ``feed_page`` selects them, each as decided: a released entry
        as the Suppression Log entry it is (what the pull feed shows, spec §18)."""
        db = self._db
        after = 0
        if after_alert_id is not None:
            named: list[Any] = [after_alert_id]
            clauses = ["alert_id = ?", FEED_ROWS]
            self._scoped(clauses, named, network_operators)
            place = db.scalar(
                "SELECT feed_seq FROM ad1_outcomes WHERE " + " AND ".join(clauses), named
            )
            if place is None:
                raise NotVisible(after_alert_id)
            after = int(place)
        where = [FEED_ROWS, "feed_seq > ?"]
        params: list[Any] = [after]
        self._scoped(where, params, network_operators)
        self._where(OutcomeFilter(since=since, until=until), where, params)
        rows = db.fetch(
            f"SELECT {AD1} FROM ad1_outcomes WHERE "
            + " AND ".join(where)
            + f" ORDER BY feed_seq LIMIT {int(limit)}",
            params,
        )
        return [decode_ad1(row) for row in rows]

    def counts_by_network_operator(
        self, network_operators: frozenset[str] | None = None
    ) -> dict[str, tuple[int, int]]:
        """(suppressed, forwarded) AD1s per network operator ("" when unknown)."""
        where: list[str] = []
        params: list[Any] = []
        self._scoped(where, params, network_operators)
        sql = (
            "SELECT network_operator, COUNT(*) FILTER (WHERE suppressed = 1), "
            "COUNT(*) FILTER (WHERE suppressed = 0) FROM ad1_outcomes"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " GROUP BY network_operator ORDER BY network_operator"
        return {operator: (int(s), int(f)) for operator, s, f in self._db.fetch(sql, params)}

    def unrouted_count(self) -> int:
        """Forwarded AD1s routed to no network operator (R8: no ESME is known for their hub):
        no DNO sees them, so DCC operations must (``/v1/alerts/unrouted``, the summary,
        ``/metrics``)."""
        return int(
            self._db.scalar(
                f"SELECT COUNT(*) FROM ad1_outcomes WHERE {FEED_ROWS} AND network_operator = ''"
            )
        )

    def daily_counts(self, which: OutcomeFilter) -> list[DayCounts]:
        """``DayCounts`` of the AD1s ``which`` selects, by UTC day of ``received_at`` and
        network operator, in that order; days without an AD1 are left out."""
        where = ["seq > 0"]
        params: list[Any] = []
        self._where(which, where, params)
        rows = self._db.fetch(
            f"SELECT received_at / {_DAY_US} AS day, network_operator, "
            "COUNT(*) FILTER (WHERE suppressed = 1), "
            "COUNT(*) FILTER (WHERE suppressed = 1 AND released_at IS NOT NULL), "
            "COUNT(*) FILTER (WHERE suppressed = 0) FROM ad1_outcomes WHERE "
            + " AND ".join(where)
            + " GROUP BY 1, 2 ORDER BY 1, 2",
            params,
        )
        return [
            DayCounts((EPOCH + timedelta(days=int(day))).date(), operator, int(s), int(r), int(f))
            for day, operator, s, r, f in rows
        ]

    def counts(self) -> dict[str, int]:
        """The AD1 figures of ``summary.json``, over everything the store holds."""
        db = self._db
        suppressed, forwarded, released = db.one(
            "SELECT COUNT(*) FILTER (WHERE suppressed = 1), "
            "COUNT(*) FILTER (WHERE suppressed = 0), "
            "COUNT(*) FILTER (WHERE released_at IS NOT NULL) FROM ad1_outcomes"
        ) or (0, 0, 0)
        duplicates = int(db.scalar("SELECT COUNT(*) FROM ad1_duplicates"))
        suppressed, forwarded = int(suppressed), int(forwarded)
        return {
            "ad1_received": suppressed + forwarded + duplicates,
            "ad1_suppressed": suppressed,
            "ad1_forwarded": forwarded,
            "ad1_duplicates": duplicates,
            "ad1_released": int(released),
        }
