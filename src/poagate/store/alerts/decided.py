"""Decided AD1s as the decision path, the guards and the incident controls read and write them.

* The gate's durable state: which alert_ids are decided (R6), everything for a replay's gate
  (``decided_ids``), only those of a group's AD1s for the service (``decided_among``), and the
  numbering that orders decisions and each DNO's feed (``next_seq``).
* What the spec §9 and §14 guards read in the service, where many processes decide and none
  holds everything: the entries a guard may release (``waiting_entries``, ``unreleased_due``),
  the area-outage evidence around them (``area_evidence``), and how far a pass is done
  (``settled_seq``). The rules themselves are the domain's (``poagate.domain.guards``,
  ``.verification``); these reads only hand it the rows it needs, each bounded by what one
  decision can use.
* The incident controls (spec §12): who released an entry and why (``sign_releases``), and one
  decided AD1 as an explanation reads it (``explained``).
* The outcomes a delivery worker makes its payloads of (``outcomes_of``, spec §18).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from poagate.domain.outcomes import ForwardedAlert, SuppressionEntry
from poagate.domain.values import value
from poagate.formats.timestamps import to_us
from poagate.store.alerts.rows import AD1, AD1_COLUMNS, decode_ad1
from poagate.store.schema import (
    ANSWERED_VERIFICATIONS,
    EVIDENCE_ROWS,
    FEED_ROWS,
    UNRELEASED_ROWS,
    WAITING_ROWS,
)
from poagate.store.sqlbase import Database

_ONE_US = timedelta(microseconds=1)


@value
class EvidencePoint:
    """An AD1 whose area-outage evidence is asked for: its sector, hub and outage time."""

    sector: str
    chf_id: str
    event_at: datetime


@value
class DecidedAlert:
    """One decided AD1 as an explanation reads it: the outcome, the sector it was stored with
    (area-outage on), who released it and why (an operator), how often it was repeated."""

    outcome: SuppressionEntry | ForwardedAlert
    sector: str | None
    released_by: str | None
    release_note: str | None
    duplicates: int


class DecidedAlerts:
    """See the module docstring."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- the gate's state ---------------------------------------------------------------------

    def decided_ids(self) -> Iterator[str]:
        """Every decided alert_id (a replay's gate, restored once)."""
        for (alert_id,) in self._db.stream("SELECT alert_id FROM ad1_outcomes"):
            yield alert_id

    # PostgreSQL: each alert_id looked up LATERAL, one probe of the unique index each, whatever
    # the planner believes of the table. ``alert_id = ANY(...)`` let it choose: it scanned the
    # whole table (every row against a hash of the group's ids) until the table had grown well
    # past 200,000 rows with statistics, and always before the first ANALYZE, when it takes
    # each row for 500 bytes and so the table for a tenth of its size. At 230,000 rows that was
    # 18-29 ms a group against about 1 ms (docs/performance.md, "Capacity on PostgreSQL").
    _DECIDED_LATERAL = (
        "SELECT a.id FROM unnest(?::text[]) AS a(id) CROSS JOIN LATERAL "
        "(SELECT 1 FROM ad1_outcomes WHERE alert_id = a.id LIMIT 1) AS hit"
    )

    def decided_among(self, alert_ids: Sequence[str]) -> set[str]:
        """Which of ``alert_ids`` are decided (a group's AD1s, read ahead of the writers' lock
        or in its transaction)."""
        db = self._db
        if db.dialect == "postgresql":
            rows = db.fetch(self._DECIDED_LATERAL, (list(alert_ids),))
        else:
            rows = db.fetch(
                "SELECT alert_id FROM ad1_outcomes WHERE {in:alert_id}",
                (db.list_param(alert_ids),),
            )
        return {r[0] for r in rows}

    def decided_since(self, alert_ids: Sequence[str], after_seq: int, upto_seq: int) -> set[str]:
        """Which of ``alert_ids`` were decided after ``after_seq`` (up to ``upto_seq``, the last
        now): what a group that read ahead of the writers' lock has not seen
        (``poagate.store.marks``). The range is read by the primary key and matched here: with
        the alert_ids in the statement, PostgreSQL probed the alert_id index for each of them
        (on a table without statistics), even when nothing was decided since."""
        if upto_seq <= after_seq:
            return set()
        wanted = set(alert_ids)
        return {
            alert_id
            for (alert_id,) in self._db.fetch(
                "SELECT alert_id FROM ad1_outcomes WHERE seq > ? AND seq <= ?",
                (after_seq, upto_seq),
            )
            if alert_id in wanted
        }

    def next_seq(self) -> int:
        """After every AD1's seq and every place in the feed (a release takes a number too)."""
        return int(
            self._db.scalar(
                "SELECT COALESCE(MAX(n), 0) + 1 FROM (SELECT MAX(seq) AS n FROM ad1_outcomes "
                f"UNION ALL SELECT MAX(feed_seq) FROM ad1_outcomes WHERE {FEED_ROWS}) AS tops"
            )
        )

    def last_seq(self) -> int:
        """The last AD1 decided: a guard switched on watches those after it."""
        return int(self._db.scalar("SELECT COALESCE(MAX(seq), 0) FROM ad1_outcomes"))

    # -- area-outage ----------------------------------------------------------------------------

    def waiting_entries(
        self, sectors: Sequence[str], start: datetime, end: datetime
    ) -> list[tuple[str, SuppressionEntry]]:
        """(sector, entry) of the unreleased Suppression Log entries of ``sectors`` with
        ``event_at`` in [start, end]: what a forwarded AD1 may release (area-outage)."""
        db = self._db
        rows = db.fetch(
            f"SELECT sector, {AD1} FROM ad1_outcomes "
            f"WHERE {WAITING_ROWS} AND {{in:sector}} AND event_at >= ? AND event_at <= ? "
            "ORDER BY seq",
            (db.list_param(sectors), to_us(start), to_us(end)),
        )
        return [(sector, entry) for _, sector, entry in _entries(0, rows)]

    def area_evidence(
        self, points: Iterable[EvidencePoint], span: timedelta, enough: int
    ) -> list[tuple[str, SuppressionEntry | ForwardedAlert]]:
        """(sector, outcome) of AD1s that reached their DNO (forwarded or released): for each
        point, at most ``enough`` of its sector from other CHFs with ``event_at`` within
        ``span`` of it — as many as area-outage needs to tell whether the point has its
        evidence, however many the storm brought. Each once."""
        asked = sorted({(p.sector, p.chf_id, to_us(p.event_at)) for p in points})
        found: dict[str, tuple[str, SuppressionEntry | ForwardedAlert]] = {}
        for row in self._evidence_rows(asked, span // _ONE_US, enough):
            if row[1] not in found:
                found[row[1]] = (row[0], decode_ad1(row[1:]))
        return list(found.values())

    _EVIDENCE = (
        f"SELECT sector, {AD1} FROM ad1_outcomes "
        f"WHERE {EVIDENCE_ROWS} AND sector = ? AND event_at >= ? AND event_at <= ? "
        "AND chf_id <> ? LIMIT ?"
    )
    # PostgreSQL: every point in one round trip, the points as arrays, each looked up LATERAL.
    _EVIDENCE_LATERAL = (
        "SELECT e.* FROM unnest(?::text[], ?::text[], ?::bigint[]) AS p(s, c, t) "
        f"CROSS JOIN LATERAL (SELECT sector, {AD1} FROM ad1_outcomes "
        f"WHERE {EVIDENCE_ROWS} AND sector = p.s AND event_at >= p.t - ? "
        "AND event_at <= p.t + ? AND chf_id <> p.c LIMIT ?) AS e"
    )

    def _evidence_rows(
        self, points: Sequence[tuple[str, str, int]], span_us: int, enough: int
    ) -> Iterator[tuple[Any, ...]]:
        db = self._db
        if not points:
            return iter(())
        if db.dialect == "postgresql":
            sectors, chf_ids, moments = (list(column) for column in zip(*points, strict=True))
            return iter(
                db.fetch(
                    self._EVIDENCE_LATERAL,
                    (sectors, chf_ids, moments, span_us, span_us, enough),
                )
            )
        # SQLite: a statement a point, cheap in-process.
        return (
            row
            for sector, chf_id, at in points
            for row in db.fetch(
                self._EVIDENCE, (sector, at - span_us, at + span_us, chf_id, enough)
            )
        )

    # -- the periodic passes: release-if-dark, verification -----------------------------------

    def unreleased_due(
        self, after_seq: int, until: datetime, unanswered: bool = False, limit: int | None = None
    ) -> list[tuple[int, str | None, SuppressionEntry]]:
        """(seq, sector, entry) of the unreleased Suppression Log entries after ``after_seq``
        whose ``event_at`` is at or before ``until``, in decision order: what a pass looks at.
        ``unanswered``: leaving out the entries with a verification request answered (settled
        for good: ``service.verifications``); ``limit``: the first so many."""
        joined, answered = "", ""
        if unanswered and self._db.dialect == "postgresql":
            # An index probe an entry: as NOT EXISTS, PostgreSQL hashed every answered request
            # ever kept, a cost growing with history (seen in a soak's 10th minute: 8,772 of them).
            joined = (
                " LEFT JOIN LATERAL (SELECT 1 AS answered FROM verifications v WHERE "
                f"v.alert_id = ad1_outcomes.alert_id AND v.{ANSWERED_VERIFICATIONS} LIMIT 1) "
                "AS a ON true"
            )
            answered = " AND a.answered IS NULL"
        elif unanswered:
            answered = (
                " AND NOT EXISTS (SELECT 1 FROM verifications v WHERE "
                f"v.alert_id = ad1_outcomes.alert_id AND v.{ANSWERED_VERIFICATIONS})"
            )
        rows = self._db.fetch(
            f"SELECT seq, sector, {AD1} FROM ad1_outcomes{joined} "
            f"WHERE {UNRELEASED_ROWS} AND seq > ? AND event_at <= ?{answered} ORDER BY seq"
            + ("" if limit is None else f" LIMIT {int(limit)}"),
            (after_seq, to_us(until)),
        )
        return _entries(1, rows)

    def settled_seq(self, after_seq: int, until: datetime) -> int:
        """The seq before the first unreleased entry after ``after_seq`` whose ``event_at`` is
        after ``until`` (not yet due), or the last seq: how far a pass is done."""
        undue = self._db.scalar(
            f"SELECT MIN(seq) FROM ad1_outcomes WHERE {UNRELEASED_ROWS} AND seq > ? "
            "AND event_at > ?",
            (after_seq, to_us(until)),
        )
        if undue is not None:
            return int(undue) - 1
        return self.last_seq()

    # -- the incident controls ----------------------------------------------------------------

    def sign_releases(self, alert_ids: Sequence[str], actor: str, note: str | None) -> None:
        """Record who released these entries, and why (after their release is written)."""
        if alert_ids:
            db = self._db
            db.run(
                "UPDATE ad1_outcomes SET released_by = ?, release_note = ? WHERE {in:alert_id}",
                (actor, note, db.list_param(list(alert_ids))),
            )

    def outcomes_of(self, alert_ids: Sequence[str]) -> dict[str, SuppressionEntry | ForwardedAlert]:
        """The outcomes of ``alert_ids`` that are decided, by alert_id (what a delivery's
        payload is made of, spec §18)."""
        if not alert_ids:
            return {}
        db = self._db
        rows = db.fetch(
            f"SELECT {AD1} FROM ad1_outcomes WHERE {{in:alert_id}}",
            (db.list_param(list(dict.fromkeys(alert_ids))),),
        )
        return {outcome.alert_id: outcome for outcome in map(decode_ad1, rows)}

    def explained(
        self, alert_id: str, network_operators: frozenset[str] | None
    ) -> DecidedAlert | None:
        """The AD1's outcome, if decided and ``network_operators`` (None: any) include its."""
        db = self._db
        where, params = ["alert_id = ?"], [alert_id]
        if network_operators is not None:
            where.append("{in:network_operator}")
            params.append(db.list_param(sorted(network_operators)))
        row = db.one(
            f"SELECT {AD1}, sector, released_by, release_note FROM ad1_outcomes WHERE "
            + " AND ".join(where),
            params,
        )
        if row is None:
            return None
        width = len(AD1_COLUMNS)
        duplicates = int(
            db.scalar("SELECT COUNT(*) FROM ad1_duplicates WHERE alert_id = ?", (alert_id,))
        )
        return DecidedAlert(
            decode_ad1(row[:width]), row[width], row[width + 1], row[width + 2], duplicates
        )


def _entries(skip: int, rows: Iterable[tuple[Any, ...]]) -> list[tuple[int, Any, SuppressionEntry]]:
    """(seq, sector, entry) from rows of [seq,] sector, then ``AD1_COLUMNS`` of Suppression Log
    entries (seq 0 when the rows have none: ``skip`` 0)."""
    entries = []
    for row in rows:
        entry = decode_ad1(row[skip + 1 :])
        assert type(entry) is SuppressionEntry
        entries.append((row[0] if skip else 0, row[skip], entry))
    return entries
