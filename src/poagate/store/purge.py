"""Purging what is past its retention (spec §15), in bounded batches: the engine each concept's
purge runs on. The concepts own what is purged — which rows of a table are of a kind, the time
column they age by, and what is never purged whatever its age (``Purge``); this module owns how.

Rows are visited in the order of their integer key (insertion order, so oldest first), a range
of keys a write transaction, the range sized by time so that a step holds the writer about a
millisecond, and the pass resting between steps, longer while other writers are writing
(``poagate.store.pacing``): decisions waiting for the writer wait for one short step at most,
and while they keep coming, few meet one (measured: benchmarks/lifecycle.py). Each kind
remembers in ``meta`` how far it has purged (``purged:<table>:<kind>``): a range whose rows of
the kind are all gone moves that mark on, and the next pass starts there. A row kept because it
is still needed (``Purge.keep``) holds the mark where it is, so it is looked at again next pass.
The newest row of each table stays, whatever its age, so that no key is ever given twice. Where
the next pass stops is the last key whose row is older than the cut-off, found by bisecting the
key (a seek a step): a pass costs what it purges plus a few seeks, not what the table keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from poagate.store.pacing import Held, Pace
from poagate.store.sqlbase import UPSERT_META, Database

BATCH = 1_000  # rows a transaction where a purge deletes by count (rejected inputs)
FIRST_KEYS, LEAST_KEYS, MOST_KEYS = 128, 128, 20_000  # keys a step (store.pacing sizes it by time)


@dataclass(frozen=True)
class Purge:
    """One kind of row a concept purges from one of its tables.

    ``rows`` is the SQL condition of the kind's rows (``"1 = 1"`` for all of them), ``keep`` the
    condition of those kept whatever their age, with ``keep_params`` for its ``?``s."""

    kind: str
    table: str
    key: str
    aged_by: str
    rows: str = "1 = 1"
    keep: str = "1 = 0"
    keep_params: tuple[Any, ...] = ()

    @property
    def mark(self) -> str:
        return f"purged:{self.table}:{self.kind}"


def purge(
    db: Database, p: Purge, before: int, dry_run: bool = False, held: Held | None = None
) -> int:
    """Delete (or with ``dry_run`` only count) the rows of ``p`` whose time is before
    ``before`` (microseconds) and that ``p.keep`` does not keep; how many. The time its steps
    held the writer is added to ``held``."""
    start = int(db.meta(p.mark) or 0)
    end = _last_key_before(db, p, start, before)
    if end is None:
        return 0
    # The newest row of a table is never purged, so that its keys are never given again (SQLite
    # numbers a row after the largest there is, and so does the AD1s' seq): the marks here and
    # the guards' watermarks count on keys that only grow.
    end = min(end, int(db.scalar(f"SELECT MAX({p.key}) FROM {p.table}")) - 1)
    eligible = (
        f"{p.key} >= ? AND {p.key} < ? AND {p.aged_by} < ? AND ({p.rows}) "
        f"AND NOT COALESCE(({p.keep}), 1 = 0)"  # a keep that is NULL keeps nothing
    )
    count = f"SELECT COUNT(*) FROM {p.table} WHERE {eligible}"
    delete = f"DELETE FROM {p.table} WHERE {eligible}"
    remaining = f"SELECT 1 FROM {p.table} WHERE {p.key} >= ? AND {p.key} < ? AND ({p.rows}) LIMIT 1"
    total = 0
    stuck = False  # a row in an earlier range was kept: the mark stays there
    pace = Pace(FIRST_KEYS, LEAST_KEYS, MOST_KEYS, held, db.writes_seen)
    low = start
    while low <= end:
        high = min(low + pace.size, end + 1)
        params: Sequence[Any] = (low, high, before, *p.keep_params)
        if dry_run:  # only reads: no write transaction, no rest
            total += int(db.scalar(count, params))
            low = high
            continue
        with pace.step(), db.transaction():
            total += db.run(delete, params)
            if not stuck:
                if db.one(remaining, (low, high)) is None:
                    db.run(UPSERT_META, (p.mark, str(high)))
                else:
                    stuck = True
        low = high
    return total


def _last_key_before(db: Database, p: Purge, start: int, before: int) -> int | None:
    """The last key from ``start`` on whose row is older than ``before``, bisecting the key (rows
    are inserted in time order); None when the first row from ``start`` is not older."""
    first = (
        f"SELECT {p.key}, {p.aged_by} FROM {p.table} WHERE {p.key} >= ? ORDER BY {p.key} LIMIT 1"
    )
    row = db.one(first, (start,))
    if row is None or int(row[1]) >= before:
        return None
    low = int(row[0])  # a key whose row is older
    high = int(db.scalar(f"SELECT MAX({p.key}) FROM {p.table}"))
    while low < high:
        middle = (low + high + 1) // 2
        probe = db.one(first, (middle,))
        if probe is None or int(probe[1]) >= before:
            high = middle - 1
        else:
            low = max(int(probe[0]), middle)
    return low
