"""What came in besides decisions: a replay's input files and how far each was applied
(``sources``), messages read and deliberately ignored (``ignored_inputs``), and every line or row
that could not be read, of events, inventories and GUID lists alike (``rejected_inputs``).

A replay records how far each file got in the batch that applies its events, so a replay run
again skips exactly what was committed. Sources age by ``first_seen`` and ignored messages by
``received_at``; a rejected row holds no time of its own: each maintenance pass records the
last one there is with the pass's time (meta ``rejected_inputs_marks``), and a pass purges the
rows up to the last mark older than the retention (``purge_rejected``), so a rejected row is
purged between one and two passes after its retention (``TABLES``; spec §15).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import orjson

from poagate.domain.events import Ignored
from poagate.domain.values import value
from poagate.formats.errors import Rejection
from poagate.formats.timestamps import to_us
from poagate.store.purge import BATCH, Purge
from poagate.store.sqlbase import NULL_INT, NULL_TEXT, UPSERT_META, Database, Insert, Kept

TABLES = (
    Kept("sources", "first_seen"),
    Kept("ignored_inputs", "received_at"),
    Kept("rejected_inputs", None),
)

IGNORED = Insert(
    "ignored_inputs",
    ("received_at", "what", "source", "line"),
    frozenset({"line"}),
    frozenset({"source"}),
)
REJECTED = Insert(
    "rejected_inputs", ("kind", "source", "line", "error", "raw"), frozenset({"line"})
)
PROGRESS = "UPDATE sources SET events_done = ? WHERE id = ?"
REJECTED_MARKS = "rejected_inputs_marks"  # JSON [[pass time (µs), last seq then], ...]
_SOURCE = "SELECT id, sha256, name, events_total, events_done FROM sources WHERE sha256 = ?"


@value
class SourceState:
    """An input file as the store knows it (see ``schema.sources``)."""

    id: int
    sha256: str
    name: str
    events_total: int
    events_done: int


def encode_rejected(kind: str, rejected: Iterable[Rejection]) -> list[tuple[Any, ...]]:
    """Rows of ``REJECTED``: ``kind`` is event, inventory or guid_list."""
    return [
        (kind, r.source, NULL_INT if r.line is None else r.line, r.error, r.raw) for r in rejected
    ]


def encode_ignored(
    ignored: Sequence[tuple[Ignored, str | None, int | None]],
) -> list[tuple[Any, ...]]:
    return [
        (to_us(i.received_at), i.what, source or NULL_TEXT, line or NULL_INT)
        for i, source, line in ignored
    ]


def write(
    db: Database,
    ignored: Sequence[tuple[Any, ...]],
    rejected: Sequence[tuple[Any, ...]],
    progress: Sequence[tuple[int, int]],
) -> None:
    """Insert ignored and rejected input and record how far each file got ((events_done,
    source id) pairs), inside the caller's transaction."""
    db.insert(IGNORED, ignored)
    db.insert(REJECTED, rejected)
    if progress:
        db.run_many(PROGRESS, progress)


class Inputs:
    """See the module docstring."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def source(self, sha256: str, name: str, events_total: int, at: datetime) -> SourceState:
        """An input file as the store knows it (recorded the first time it is seen)."""
        db = self._db
        row = db.one(_SOURCE, (sha256,))
        if row is None:
            with db.transaction():
                db.run(
                    "INSERT INTO sources (sha256, name, first_seen, events_total, events_done) "
                    "VALUES (?, ?, ?, ?, 0)",
                    (sha256, name, to_us(at), events_total),
                )
            row = db.one(_SOURCE, (sha256,))
            assert row is not None
        return SourceState(*row)

    def rejected(self) -> Iterator[tuple[str, Rejection]]:
        """(kind, rejection): every line or row that could not be read, in order."""
        for kind, source, line, error, raw in self._db.stream(
            "SELECT kind, source, line, error, raw FROM rejected_inputs ORDER BY seq"
        ):
            yield kind, Rejection(source, line, error, raw)

    def counts(self) -> dict[str, int]:
        """The input figures of ``summary.json``: events read and rejected, messages ignored,
        reference rows rejected."""
        db = self._db
        rejected = dict(db.fetch("SELECT kind, COUNT(*) FROM rejected_inputs GROUP BY kind"))
        return {
            "events_read": int(db.scalar("SELECT COALESCE(SUM(events_done), 0) FROM sources")),
            "events_rejected": int(rejected.get("event", 0)),
            "messages_ignored": int(db.scalar("SELECT COUNT(*) FROM ignored_inputs")),
            "inventory_rows_rejected": int(rejected.get("inventory", 0)),
            "guid_list_rows_rejected": int(rejected.get("guid_list", 0)),
        }

    def purge_rejected(self, now: int, before: int, dry_run: bool = False) -> int:
        """Delete (or count) the rejected rows that were there at a pass older than ``before``
        (microseconds), and record this pass's mark at ``now`` (see the module docstring)."""
        db = self._db
        marks: list[list[int]] = orjson.loads(db.meta(REJECTED_MARKS) or "[]")
        due = [seq for at, seq in marks if at < before]
        newest = int(db.scalar("SELECT COALESCE(MAX(seq), 0) FROM rejected_inputs"))
        upto = min(max(due, default=0), newest - 1)  # the newest stays: seqs are not reused
        found = int(db.scalar("SELECT COUNT(*) FROM rejected_inputs WHERE seq <= ?", (upto,)))
        if dry_run:
            return found
        gone = found
        while gone > 0:
            with db.transaction():
                db.run(
                    "DELETE FROM rejected_inputs WHERE seq IN (SELECT seq FROM rejected_inputs "
                    f"WHERE seq <= ? ORDER BY seq LIMIT {BATCH})",
                    (upto,),
                )
            gone -= BATCH
        last = int(db.scalar("SELECT COALESCE(MAX(seq), 0) FROM rejected_inputs"))
        kept = [[at, seq] for at, seq in marks if at >= before]
        if last > upto and (not kept or kept[-1][1] < last):
            kept.append([now, last])
        with db.transaction():
            db.run(UPSERT_META, (REJECTED_MARKS, orjson.dumps(kept).decode()))
        return found


def purges() -> tuple[Purge, ...]:
    """What retention purges of the inputs besides rejected rows (spec §15): ignored messages
    older than their retention. Input files (``sources``) are kept: a replay resumes by them."""
    return (Purge("inputs", "ignored_inputs", "seq", "received_at"),)
