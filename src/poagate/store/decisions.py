"""The decision path's store: the gate's durable state, and the unit of work that records what it
decided.

A replay restores its gate from everything here once (``activation_records``,
``decided_alert_ids``) and then commits batch after batch; the service reads, inside each
group's transaction, only what that group's events can read or change (``activations_for``,
``decided_among``) and writes the group's outcomes in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from poagate.domain.outcomes import ActivationRecord
from poagate.formats.timestamps import from_us, to_us
from poagate.store.batch import Batch
from poagate.store.codec import ACTIVATION_COLUMNS, Rows, decode_activation, encode_batch
from poagate.store.records import SourceState
from poagate.store.schema import FEED_ROWS
from poagate.store.sqlbase import Database
from poagate.store.verifications import encode_verification
from poagate.store.writes import write_rows

_SOURCE = "SELECT id, sha256, name, events_total, events_done FROM sources WHERE sha256 = ?"


class Decisions:
    """See the module docstring."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._next_seq: int | None = None  # the next AD1 seq, once known

    # -- a replay's input files -----------------------------------------------------------------

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

    # -- the gate's state -------------------------------------------------------------------------

    def activation_records(self) -> Iterator[ActivationRecord]:
        """Every activation record, in first-seen order."""
        for row in self._db.stream(
            f"SELECT {','.join(ACTIVATION_COLUMNS)} FROM activations ORDER BY seq"
        ):
            yield decode_activation(row)

    def decided_alert_ids(self) -> Iterator[str]:
        for (alert_id,) in self._db.stream("SELECT alert_id FROM ad1_outcomes"):
            yield alert_id

    def signs_of_life(self) -> Iterator[tuple[str, datetime]]:
        """Every message that shows a device had power: (device_id, received_at)."""
        for device_id, at in self._db.stream(
            "SELECT device_id, received_at FROM device_messages "
            "UNION ALL SELECT device_id, received_at FROM activation_outcomes"
        ):
            yield device_id, from_us(at)

    def activations_for(
        self, request_ids: Sequence[str], chf_ids: Sequence[str], device_ids: Sequence[str]
    ) -> list[ActivationRecord]:
        """The records an event group can read or change: by request_id, the windows of its
        CHFs, and the future-dated activations of its devices, in first-seen order."""
        db = self._db
        select = f"SELECT seq, {','.join(ACTIVATION_COLUMNS)} FROM activations"
        rows = db.fetch(
            f"{select} WHERE {{in:request_id}} "
            f"UNION {select} WHERE {{in:chf_id}} AND window_start IS NOT NULL "
            f"UNION {select} WHERE {{in:device_id}} AND kind = 'future_dated' "
            "ORDER BY 1",
            (db.list_param(request_ids), db.list_param(chf_ids), db.list_param(device_ids)),
        )
        return [decode_activation(row[1:]) for row in rows]

    def decided_among(self, alert_ids: Sequence[str]) -> set[str]:
        db = self._db
        rows = db.fetch(
            "SELECT alert_id FROM ad1_outcomes WHERE {in:alert_id}", (db.list_param(alert_ids),)
        )
        return {r[0] for r in rows}

    # -- the unit of work ---------------------------------------------------------------------

    def prepare(self, batch: Batch, sector_of: Callable[[str], str | None] | None = None) -> Rows:
        """The batch as rows to write, numbering its AD1 outcomes after those already stored.

        Batches must be prepared in the order they are written: a replay (the only writer)
        keeps the count in memory; a server process, one of several writers, calls
        ``refresh_sequence`` inside its transaction first."""
        if self._next_seq is None:
            self._next_seq = self._read_next_seq()
        rows = encode_batch(batch, self._next_seq, sector_of)
        rows.verifications = [encode_verification(r) for r in batch.verifications]
        self._next_seq = rows.next_seq
        return rows

    def write(self, rows: Rows) -> None:
        """Write prepared rows in one transaction (or in the one already open)."""
        write_rows(self._db, rows)

    def commit(self, batch: Batch, sector_of: Callable[[str], str | None] | None = None) -> None:
        self.write(self.prepare(batch, sector_of))

    def refresh_sequence(self) -> None:
        """Continue AD1 numbering after what other processes committed (inside a
        transaction, before ``prepare``)."""
        self._next_seq = self._read_next_seq()

    def _read_next_seq(self) -> int:
        """After every AD1's seq and every place in the feed (a release takes a number too)."""
        return int(
            self._db.scalar(
                "SELECT COALESCE(MAX(n), 0) + 1 FROM (SELECT MAX(seq) AS n FROM ad1_outcomes "
                f"UNION ALL SELECT MAX(feed_seq) FROM ad1_outcomes WHERE {FEED_ROWS}) AS tops"
            )
        )

    def last_seq(self) -> int:
        return int(self._db.scalar("SELECT COALESCE(MAX(seq), 0) FROM ad1_outcomes"))
