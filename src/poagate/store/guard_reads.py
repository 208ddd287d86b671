"""What the spec §9 guards read in the service, where many processes decide and none holds
everything: the entries a guard may release, the evidence around them, and the signs of life of
their hubs. The rules themselves are the domain's (``poagate.domain.guards``); these reads only
hand it the rows it needs, each bounded by what one decision can use.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from poagate.domain.outcomes import ForwardedAlert, SuppressionEntry
from poagate.domain.values import value
from poagate.formats.timestamps import from_us, to_us
from poagate.store.codec import AD1_COLUMNS, decode_ad1
from poagate.store.schema import EVIDENCE_ROWS, UNRELEASED_ROWS, WAITING_ROWS
from poagate.store.sqlbase import Database

_ONE_US = timedelta(microseconds=1)
_AD1 = ",".join(AD1_COLUMNS)


@value
class EvidencePoint:
    """An AD1 whose area-outage evidence is asked for: its sector, hub and outage time."""

    sector: str
    chf_id: str
    event_at: datetime


class GuardReads:
    """See the module docstring."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- area-outage ----------------------------------------------------------------------------

    def waiting_entries(
        self, sectors: Sequence[str], start: datetime, end: datetime
    ) -> list[tuple[str, SuppressionEntry]]:
        """(sector, entry) of the unreleased Suppression Log entries of ``sectors`` with
        ``event_at`` in [start, end]: what a forwarded AD1 may release (area-outage)."""
        db = self._db
        rows = db.fetch(
            f"SELECT sector, {_AD1} FROM ad1_outcomes "
            f"WHERE {WAITING_ROWS} AND {{in:sector}} AND event_at >= ? AND event_at <= ? "
            "ORDER BY seq",
            (db.list_param(sectors), to_us(start), to_us(end)),
        )
        return _sectored_entries(rows)

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
        f"SELECT sector, {_AD1} FROM ad1_outcomes "
        f"WHERE {EVIDENCE_ROWS} AND sector = ? AND event_at >= ? AND event_at <= ? "
        "AND chf_id <> ? LIMIT ?"
    )
    # PostgreSQL: every point in one round trip, the points as arrays, each looked up LATERAL.
    _EVIDENCE_LATERAL = (
        "SELECT e.* FROM unnest(?::text[], ?::text[], ?::bigint[]) AS p(s, c, t) "
        f"CROSS JOIN LATERAL (SELECT sector, {_AD1} FROM ad1_outcomes "
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

    # -- release-if-dark ----------------------------------------------------------------------

    def unreleased_due(
        self, after_seq: int, until: datetime
    ) -> list[tuple[str | None, SuppressionEntry]]:
        """(sector, entry) of the unreleased Suppression Log entries after ``after_seq`` whose
        ``event_at`` is at or before ``until``, in decision order."""
        rows = self._db.fetch(
            f"SELECT sector, {_AD1} FROM ad1_outcomes "
            f"WHERE {UNRELEASED_ROWS} AND seq > ? AND event_at <= ? ORDER BY seq",
            (after_seq, to_us(until)),
        )
        return _sectored_entries(rows)

    def hub_signs(
        self,
        chf_ids: Sequence[str],
        members: Mapping[str, str],
        after: datetime,
        until: datetime,
    ) -> list[tuple[str, datetime]]:
        """(chf_id, received_at) of every sign of life — a ``device_message`` or an
        ``activation_outcome`` — from each hub or a device joined to it (``members``: device_id
        -> its hub, from the fleet), received in (after, until]."""
        db = self._db
        hub_of = {**members, **{chf: chf for chf in chf_ids}}
        parts, params = [], []
        for table in ("device_messages", "activation_outcomes"):
            parts.append(
                f"SELECT m.device_id, m.received_at FROM {table} m "
                "WHERE {in:m.device_id} AND m.received_at > ? AND m.received_at <= ?"
            )
            params += [db.list_param(list(hub_of)), to_us(after), to_us(until)]
        return [
            (hub_of[device], from_us(at))
            for device, at in db.fetch(" UNION ALL ".join(parts), params)
        ]

    def settled_seq(self, after_seq: int, until: datetime) -> int:
        """The seq before the first unreleased entry after ``after_seq`` whose ``event_at`` is
        after ``until`` (not yet due), or the last seq: how far release-if-dark is done."""
        db = self._db
        undue = db.scalar(
            f"SELECT MIN(seq) FROM ad1_outcomes WHERE {UNRELEASED_ROWS} AND seq > ? "
            "AND event_at > ?",
            (after_seq, to_us(until)),
        )
        if undue is not None:
            return int(undue) - 1
        return int(db.scalar("SELECT COALESCE(MAX(seq), 0) FROM ad1_outcomes"))


def _sectored_entries(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, SuppressionEntry]]:
    """(sector, entry) from rows of a sector then ``AD1_COLUMNS`` of Suppression Log entries."""
    entries = []
    for row in rows:
        entry = decode_ad1(row[1:])
        assert type(entry) is SuppressionEntry
        entries.append((row[0], entry))
    return entries
