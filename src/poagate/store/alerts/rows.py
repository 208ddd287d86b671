"""Decided AD1s as rows and back, and every statement that writes ``ad1_outcomes`` and
``ad1_duplicates``: an outcome's insert, a duplicate's, and a release (the one edit an entry
ever gets, spec §7).

Rows are plain tuples with sentinels where a value is NULL (``sqlbase.NULL_TEXT``), so a replay
can prepare them in one process and write them in another (``poagate.service.writer``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from poagate.domain.outcomes import DuplicateAlert, ForwardedAlert, SuppressionEntry
from poagate.formats.timestamps import from_us, to_us
from poagate.store.sqlbase import NULL_INT, NULL_TEXT, Database, Insert, opt_from_us

AD1_COLUMNS = (
    "alert_id",
    "suppressed",
    "chf_id",
    "network_operator",
    "event_at",
    "received_at",
    "decided_at",
    "reason",
    "esme_id",
    "mpan",
    "activation_request_id",
    "activation_originator",
    "window_start",
    "window_end",
    "released_at",
    "release_reason",
)
AD1 = ",".join(AD1_COLUMNS)
# CPython's sqlite3 binds None and bool through its adapter protocol at about 1 µs a value, more
# than the rest of a row costs, so each kind of row is inserted naming only the columns it has
# (the others default to NULL) and flags are bound as 0/1.
# Rows carry an explicit seq (decision order) so that the two kinds can be inserted by two
# statements and still read back in the order they were decided.
# A forwarded AD1's place in its DNO's feed (feed_seq) is its seq; see ``schema``.
FORWARDED_COLUMNS = ("seq", *AD1_COLUMNS[:8], "sector", "feed_seq")
SUPPRESSED_COLUMNS = ("seq", *AD1_COLUMNS[:14], "sector")

FORWARDED = Insert("ad1_outcomes", FORWARDED_COLUMNS, nullable_text=frozenset({"sector"}))
SUPPRESSED = Insert("ad1_outcomes", SUPPRESSED_COLUMNS, nullable_text=frozenset({"mpan", "sector"}))
DUPLICATES = Insert(
    "ad1_duplicates",
    ("alert_id", "chf_id", "received_at", "source", "line"),
    frozenset({"line"}),
    frozenset({"source"}),
)
# spec §7: an entry is never edited except to record its (one) release; a released entry takes
# the next place in its DNO's feed.
RELEASE = (
    "UPDATE ad1_outcomes SET released_at = ?, release_reason = ?, feed_seq = ? "
    "WHERE alert_id = ? AND suppressed = 1 AND released_at IS NULL"
)


def _ad1_head(
    seq: int, o: SuppressionEntry | ForwardedAlert, suppressed: int, reason: str
) -> tuple[Any, ...]:
    """The columns every AD1 outcome has (``FORWARDED_COLUMNS``)."""
    received = to_us(o.received_at)
    return (
        seq,
        o.alert_id,
        suppressed,
        o.chf_id,
        o.network_operator,
        received if o.event_at is o.received_at else to_us(o.event_at),
        received,
        received if o.decided_at is o.received_at else to_us(o.decided_at),
        reason,
    )


def encode_forwarded(seq: int, o: ForwardedAlert, sector: str | None) -> tuple[Any, ...]:
    """A forwarded AD1 as a row of ``FORWARDED_COLUMNS``."""
    return (*_ad1_head(seq, o, 0, o.reason), sector or NULL_TEXT, seq)


def encode_suppressed(seq: int, o: SuppressionEntry, sector: str | None) -> tuple[Any, ...]:
    """A Suppression Log entry as a row of ``SUPPRESSED_COLUMNS`` (a release is recorded later).

    ``mpan`` and ``sector`` go through NULLIF(?, '')."""
    return (
        *_ad1_head(seq, o, 1, o.rule),
        o.esme_id,
        o.mpan or NULL_TEXT,
        o.activation_request_id,
        o.activation_originator,
        to_us(o.window_start),
        to_us(o.window_end),
        sector or NULL_TEXT,
    )


def decode_ad1(row: Sequence[Any]) -> SuppressionEntry | ForwardedAlert:
    """A row selected with ``AD1_COLUMNS`` in that order."""
    if not row[1]:
        return ForwardedAlert(
            alert_id=row[0],
            chf_id=row[2],
            network_operator=row[3],
            event_at=from_us(row[4]),
            received_at=from_us(row[5]),
            decided_at=from_us(row[6]),
            reason=row[7],
        )
    return SuppressionEntry(
        alert_id=row[0],
        chf_id=row[2],
        esme_id=row[8],
        mpan=row[9],
        network_operator=row[3],
        event_at=from_us(row[4]),
        received_at=from_us(row[5]),
        decided_at=from_us(row[6]),
        activation_request_id=row[10],
        activation_originator=row[11],
        window_start=from_us(row[12]),
        window_end=from_us(row[13]),
        rule=row[7],
        released_at=opt_from_us(row[14]),
        release_reason=row[15],
    )


def encode_outcomes(
    outcomes: Sequence[SuppressionEntry | ForwardedAlert],
    seq: int,
    sector_of: Callable[[str], str | None] | None,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
    """(forwarded rows, suppressed rows, the next seq): the outcomes numbered from ``seq`` in
    decision order, each with its sector (NULL without ``sector_of``)."""
    forwarded: list[tuple[Any, ...]] = []
    suppressed: list[tuple[Any, ...]] = []
    for outcome in outcomes:
        sector = None if sector_of is None else sector_of(outcome.chf_id)
        if type(outcome) is ForwardedAlert:
            forwarded.append(encode_forwarded(seq, outcome, sector))
        else:
            assert type(outcome) is SuppressionEntry
            suppressed.append(encode_suppressed(seq, outcome, sector))
        seq += 1
    return forwarded, suppressed, seq


def encode_releases(
    released: Sequence[SuppressionEntry], seq: int
) -> tuple[list[tuple[int, str, int, str]], int]:
    """(rows of ``RELEASE``, the next seq): each release given the next number as its place
    in the feed."""
    rows = []
    for entry in released:
        if entry.released_at is not None:
            rows.append((to_us(entry.released_at), entry.release_reason or "", seq, entry.alert_id))
            seq += 1
    return rows, seq


def encode_duplicates(
    duplicates: Sequence[tuple[DuplicateAlert, str | None, int | None]],
) -> list[tuple[Any, ...]]:
    """Repeats of decided alert_ids, each with where it was read (source and line)."""
    return [
        (d.alert_id, d.chf_id, to_us(d.received_at), source or NULL_TEXT, line or NULL_INT)
        for d, source, line in duplicates
    ]


def write(
    db: Database,
    forwarded: Sequence[tuple[Any, ...]],
    suppressed: Sequence[tuple[Any, ...]],
    duplicates: Sequence[tuple[Any, ...]],
    releases: Sequence[tuple[int, str, int, str]],
) -> None:
    """Insert outcomes and duplicates, then record releases (an entry may be released in the
    unit of work that decided it), inside the caller's transaction."""
    # A repeated alert_id here would be a bug upstream; UNIQUE(alert_id) stops it (R6).
    db.insert(FORWARDED, forwarded)
    db.insert(SUPPRESSED, suppressed)
    db.insert(DUPLICATES, duplicates)
    if releases:
        db.run_many(RELEASE, releases)
