"""The fleet in the store (spec §11): versions of the inventory, full loads staged beside the
version in force and switched in at once, and change files.

* A **full load** is a new version, ``loading`` while its file streams in: each commit stages
  the rows read so far as pages of packed records, one page per bucket (``fleet_blocks``),
  with how far the file got, so a load cut short by a crash resumes where it stopped.
  ``finish`` sorts each bucket into device blocks and hub blocks, and then, in one short
  transaction, makes the version the one in force (meta ``inventory_base``). Until that moment
  every decision reads the version before; from it, the new one. Nothing of the fleet is held
  in memory beyond one bucket (about a million rows) at a time.
* A **change file** upserts and removes devices over the version in force, as rows of the
  ``devices`` and ``removed_devices`` tables tagged with its load id, in one transaction: its
  cost grows with the changes, not the fleet (``poagate.store.reference.fleet_changes``).
  Readers take a device from those rows when they are newer than the version in force, else
  from its blocks. A full load makes them stale; they are cleared after it.

Reading the fleet is ``poagate.store.reference.fleet_reads``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import orjson

from poagate.formats.errors import Rejection
from poagate.formats.reference.device_records import (
    STAGED,
    Manufacturers,
    Records,
    device_id_of,
)
from poagate.formats.timestamps import to_us
from poagate.store.inputs import REJECTED, encode_rejected
from poagate.store.reference.fleet_blocks import (
    DEVICES,
    HUB,
    HUBS,
    block_id,
    block_ids,
    bucket_bits,
    by_bucket,
    cut,
    fence_kind,
    hub_records,
    settle_devices,
    settle_hubs,
)
from poagate.store.reference.fleet_changes import latest_changes, write_changes
from poagate.store.reference.fleet_reads import BASE_META, GENERATION_META
from poagate.store.reference.fleet_versions import KEPT_VERSIONS as KEPT_VERSIONS
from poagate.store.reference.fleet_versions import LOAD_COLUMNS, FleetVersions, decode_load
from poagate.store.reference.fleet_versions import Admit as Admit
from poagate.store.reference.fleet_versions import InventoryLoad as InventoryLoad
from poagate.store.reference.fleet_versions import (
    VersionUnavailableError as VersionUnavailableError,
)
from poagate.store.sqlbase import UPSERT_META, Insert, Kept

PAGES = Insert("fleet_pages", ("load_id", "kind", "bucket", "page", "body"))
BLOCKS = Insert("fleet_blocks", ("id", "first_key", "body"))
# Versions are kept while they are in force, and a few replaced ones to go back to
# (``fleet_versions``); ``clean`` clears what a switch left behind.
TABLES = (
    Kept("inventory_loads", "loaded_at"),
    Kept("fleet_blocks", None),
    Kept("fleet_pages", None),
    Kept("devices", None),
    Kept("removed_devices", None),
)


class LoadSuperseded(RuntimeError):  # noqa: N818 - a state, not a fault of the caller's
    """Another full load started after this one; this one was abandoned."""


class _Refused(Exception):  # noqa: N818 - carries admit's exception out of the switch
    def __init__(self, reason: Exception) -> None:
        super().__init__(str(reason))
        self.reason = reason


def signed(key: int) -> int:
    """A 64-bit key as the signed integer the database keeps (same order)."""
    return key - 2**63


class FleetStore(FleetVersions):
    """Full loads and change files (see the module docstring), the versions
    (``FleetVersions``) and reading the version in force (``FleetReads``)."""

    def manufacturers(self, load_id: int) -> list[str]:
        text = self._db.scalar("SELECT manufacturers FROM inventory_loads WHERE id = ?", (load_id,))
        return [] if text is None else list(orjson.loads(text))

    # -- full loads ---------------------------------------------------------------------------

    def resumable(self, source: str, size: int) -> InventoryLoad | None:
        """A full load of this file (its name and size) cut short, to be resumed."""
        row = self._db.one(
            f"{LOAD_COLUMNS} WHERE kind = 'full' AND state = 'loading' AND source = ? "
            "AND size_bytes = ? ORDER BY id DESC LIMIT 1",
            (source, size),
        )
        return None if row is None else decode_load(row)

    def progress(self, load_id: int) -> tuple[int, int, int]:
        """Where a loading version's file got: (bytes, lines, bucket bits)."""
        row = self._db.one(
            "SELECT bytes_done, lines_done, bucket_bits FROM inventory_loads WHERE id = ?",
            (load_id,),
        )
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])

    def begin(self, source: str, size: int | None, at: datetime) -> int:
        """Start a full load of a file of ``size`` bytes; any other load still loading is
        abandoned (the latest full load wins)."""
        bits = bucket_bits((size or 0) // 40)  # rows are 60-90 bytes; err towards more buckets
        db = self._db
        with db.transaction():
            db.run(
                "UPDATE inventory_loads SET state = 'failed' WHERE kind = 'full' "
                "AND state = 'loading'"
            )
            db.run(
                "INSERT INTO inventory_loads (loaded_at, source, sha256, rows_read, "
                "rows_accepted, rows_rejected, kind, state, size_bytes, bucket_bits) "
                "VALUES (?, ?, '', 0, 0, 0, 'full', 'loading', ?, ?)",
                (to_us(at), source, size, bits),
            )
            return int(db.scalar("SELECT MAX(id) FROM inventory_loads"))

    def stage(
        self,
        load_id: int,
        staged: Records,
        rejected: Sequence[Rejection],
        rows_read: int,
        progress: tuple[int, int],
        manufacturers: Manufacturers,
    ) -> None:
        """Commit the rows read since the last commit, and how far the file got."""
        db = self._db
        with db.transaction():
            bits = self._loading(load_id)
            page = int(progress[1])  # the last line read: unique to this commit, increasing
            db.insert(
                PAGES,
                [
                    (load_id, DEVICES, bucket, page, part.tobytes())
                    for bucket, part in by_bucket(staged, "key", bits)
                ],
            )
            db.insert(REJECTED, encode_rejected("inventory", rejected))
            db.run(
                "UPDATE inventory_loads SET rows_read = rows_read + ?, "
                "rows_accepted = rows_accepted + ?, rows_rejected = rows_rejected + ?, "
                "bytes_done = ?, lines_done = ?, manufacturers = ? WHERE id = ?",
                (
                    rows_read,
                    len(staged),
                    len(rejected),
                    progress[0],
                    progress[1],
                    orjson.dumps(manufacturers.names).decode(),
                    load_id,
                ),
            )

    def _loading(self, load_id: int) -> int:
        row = self._db.one(
            "SELECT state, bucket_bits FROM inventory_loads WHERE id = ?", (load_id,)
        )
        if row is None or row[0] != "loading":
            raise LoadSuperseded(
                f"inventory load {load_id} was abandoned: a later full load started"
            )
        return int(row[1])

    def refuse(self, load_id: int, keep: int = KEPT_VERSIONS) -> None:
        """Give up a load over the limits of spec §17: ``refused``, nothing of it in force
        (``keep`` as for ``clean``)."""
        with self._db.transaction():
            self._db.run(
                "UPDATE inventory_loads SET state = 'refused', finished_at = loaded_at "
                "WHERE id = ? AND state = 'loading'",
                (load_id,),
            )
        self.clean(keep)

    def finish(
        self,
        load_id: int,
        sha256: str,
        at: datetime,
        admit: Admit | None = None,
        keep: int = KEPT_VERSIONS,
    ) -> InventoryLoad:
        """Sort the staged rows into blocks, then make the version the one in force, unless
        ``admit``, called in the switch's transaction with the devices in force and the
        version's, raises: the load is then ``refused`` and the exception goes on. ``keep``
        replaced versions keep their blocks."""
        db = self._db
        bits = self._loading(load_id)
        with db.transaction():
            db.run("DELETE FROM fleet_blocks WHERE id >= ? AND id < ?", block_ids(load_id))
            db.run("DELETE FROM fleet_pages WHERE load_id = ? AND kind = ?", (load_id, HUBS))
        devices = 0
        hub_count = 0
        block = 0
        fences: dict[int, list[int]] = {DEVICES: [], HUBS: []}
        for bucket in range(1 << bits):
            staged = self._pages(load_id, DEVICES, bucket, STAGED)
            settled = settle_devices(staged)
            del staged
            hubs = hub_records(settled)
            hub_count += len(hubs)
            with db.transaction():
                self._loading(load_id)
                rows = []
                for first, body in cut(settled, DEVICES):
                    rows.append((block_id(load_id, DEVICES, block), signed(first), body))
                    fences[DEVICES].append(first)
                    block += 1
                db.insert(BLOCKS, rows)
                db.insert(
                    PAGES,
                    [
                        (load_id, HUBS, hub_bucket, bucket, part.tobytes())
                        for hub_bucket, part in by_bucket(hubs, "chf", bits)
                    ],
                )
            devices += len(settled)
        block = 0
        for bucket in range(1 << bits):
            hubs = settle_hubs(self._pages(load_id, HUBS, bucket, HUB))
            rows = []
            for first, body in cut(hubs, HUBS):
                rows.append((block_id(load_id, HUBS, block), signed(first), body))
                fences[HUBS].append(first)
                block += 1
            with db.transaction():
                db.insert(BLOCKS, rows)
        # Each kind's fence in one row, for readers to fetch in one go.
        with db.transaction():
            db.insert(
                BLOCKS,
                [
                    (block_id(load_id, fence_kind(kind), 0), 0, np.array(keys, np.uint64).tobytes())
                    for kind, keys in fences.items()
                ],
            )
        # The switch: one short transaction (spec §11: decisions see the old or the new).
        try:
            old = self._switch(load_id, sha256, at, devices, admit)
        except _Refused as refused:
            self.refuse(load_id, keep)
            raise refused.reason from None
        version = self.version(load_id)
        assert version is not None
        if old != load_id:
            self.clean(keep)
        return version

    def _switch(
        self, load_id: int, sha256: str, at: datetime, devices: int, admit: Admit | None
    ) -> int:
        db = self._db
        with db.transaction():
            self._loading(load_id)
            if admit is not None:
                try:
                    admit(self.in_force_count(), devices)
                except Exception as exc:
                    raise _Refused(exc) from None
            old = self._floor()
            db.run(
                "UPDATE inventory_loads SET state = 'in_force', sha256 = ?, finished_at = ?, "
                "device_count = ? WHERE id = ?",
                (sha256, to_us(at), devices, load_id),
            )
            db.run(
                "UPDATE inventory_loads SET state = 'replaced' WHERE kind = 'full' "
                "AND state = 'in_force' AND id <> ?",
                (load_id,),
            )
            db.run_many(UPSERT_META, [(BASE_META, str(load_id)), (GENERATION_META, str(load_id))])
        return old

    def _pages(self, load_id: int, kind: int, bucket: int, dtype: np.dtype[Any]) -> Records:
        bodies = [
            r[0]
            for r in self._db.fetch(
                "SELECT body FROM fleet_pages WHERE load_id = ? AND kind = ? AND bucket = ? "
                "ORDER BY page",
                (load_id, kind, bucket),
            )
        ]
        return np.frombuffer(b"".join(bodies), dtype)

    def purge_versions(self, keep: int, dry_run: bool = False) -> int:
        """Delete (or count) the inventory's versions older than both the full load in force and
        the ``keep`` newest (spec §15, ``reference_versions``), except a replaced full load whose
        devices are still kept for a rollback (``clean`` clears those beyond
        ``reference.kept_inventory_versions``); how many versions."""
        db = self._db
        newest = db.scalar(
            "SELECT id FROM inventory_loads ORDER BY id DESC LIMIT 1 OFFSET ?", (keep,)
        )
        if newest is None:
            return 0
        older = (
            "FROM inventory_loads WHERE id < ? AND state <> 'loading' "
            "AND NOT (kind = 'full' AND state = 'replaced')"
        )
        below = min(int(newest), self.base())
        found = int(db.scalar(f"SELECT COUNT(*) {older}", (below,)))
        if found and not dry_run:
            with db.transaction():
                db.run(f"DELETE {older}", (below,))
        return found

    # -- change files -------------------------------------------------------------------------

    def apply_changes(
        self,
        upserts: Records,
        removals: Records,
        names: Sequence[str],
        rejected: Sequence[Rejection],
        rows_read: int,
        source: str,
        sha256: str,
        at: datetime,
        admit: Admit | None = None,
    ) -> InventoryLoad:
        """Apply a change file in one transaction (``fleet_changes.write_changes``), unless
        ``admit``, called with the devices in force and those it would leave, raises (then
        nothing of it is written)."""
        upserts, removals = latest_changes(upserts, removals)
        with self._db.transaction():
            before = self.in_force_count()
            after = before + self._count_change(upserts, removals)
            if admit is not None:
                admit(before, after)
            load_id = write_changes(
                self._db,
                self.base(),
                after,
                upserts,
                removals,
                names,
                rejected,
                rows_read,
                source,
                sha256,
                at,
            )
        version = self.version(load_id)
        assert version is not None
        return version

    def _count_change(self, upserts: Records, removals: Records) -> int:
        """How the devices in force change: upserts of devices not in force add one, removals
        of devices in force take one away (a cost that grows with the change file)."""
        upserted = [device_id_of(int(k)) for k in upserts["key"]]
        removed = [device_id_of(int(k)) for k in removals["key"]]
        if not upserted and not removed:
            return 0
        known = self.lookup(upserted + removed, []).devices
        added = sum(1 for d in upserted if known.get(d) is None)
        return added - sum(1 for d in removed if known.get(d) is not None)
