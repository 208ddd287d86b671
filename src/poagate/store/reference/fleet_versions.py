"""The inventory's versions (spec §11, §17): what each is, how many devices are in force, putting
an earlier full load back in force, and clearing what no version in force needs.

* A **full load** is ``loading``, then ``in_force`` (``replaced`` once another is), ``failed``
  (a later load started first) or ``refused`` (over the limits of spec §17: nothing of it went
  into force). A replaced load keeps its blocks while it is one of the ``keep`` most recent
  replaced ones, so that it can be put back in force; after that it is ``cleared``.
* A **change file** is ``applied`` over the full load in force.
* A **rollback** (kind ``rollback``, ``applied``) puts a kept full load back in force: the meta
  ``inventory_base`` names the rollback's row, whose ``base`` is the full load whose blocks are
  read. Change rows count only when newer than the row ``inventory_base`` names, so the change
  files applied since the version rolled back to stop applying at that same instant, and are
  cleared afterwards like any change rows older than the version in force.

Every version records ``device_count``: the devices in force once it took effect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from poagate.domain.values import value
from poagate.formats.timestamps import from_us, to_us
from poagate.store.reference.fleet_blocks import DEVICES, block_ids, fence_kind
from poagate.store.reference.fleet_reads import BASE_META, GENERATION_META, FleetReads
from poagate.store.sqlbase import UPSERT_META

LOAD_COLUMNS = (
    "SELECT id, loaded_at, source, sha256, rows_read, rows_accepted, rows_rejected, kind, state, "
    "base, rows_removed, device_count, finished_at FROM inventory_loads"
)
KEPT_VERSIONS = 2  # replaced full loads kept for a rollback, unless the caller says
_CLEAN_BATCH = 2_000
# Called with the devices in force and those the version would leave; raises to refuse it.
Admit = Callable[[int, int], None]


@value
class InventoryLoad:
    """A version of the inventory (spec §11): a full load, a change file or a rollback."""

    id: int
    loaded_at: datetime
    source: str
    sha256: str
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    kind: str = "full"  # full, changes or rollback
    # full: loading, in_force, replaced, cleared, failed or refused; changes, rollback: applied
    state: str = "in_force"
    base: int | None = None  # changes: the full load they amend; rollback: the one put back
    rows_removed: int = 0
    device_count: int | None = None  # the devices in force once it took effect
    finished_at: datetime | None = None


class VersionUnavailableError(LookupError):
    """The version asked for cannot be put back in force (unknown, not a full load, cleared)."""


def decode_load(row: Sequence[Any]) -> InventoryLoad:
    return InventoryLoad(
        id=row[0],
        loaded_at=from_us(row[1]),
        source=row[2],
        sha256=row[3],
        rows_read=row[4],
        rows_accepted=row[5],
        rows_rejected=row[6],
        kind=row[7],
        state=row[8],
        base=row[9],
        rows_removed=row[10],
        device_count=row[11],
        finished_at=None if row[12] is None else from_us(row[12]),
    )


class FleetVersions(FleetReads):
    """The versions of the inventory (see the module docstring)."""

    def version(self, load_id: int) -> InventoryLoad | None:
        row = self._db.one(f"{LOAD_COLUMNS} WHERE id = ?", (load_id,))
        return None if row is None else decode_load(row)

    def versions(self, after: int = 0, limit: int = 100) -> list[InventoryLoad]:
        return [
            decode_load(r)
            for r in self._db.fetch(
                f"{LOAD_COLUMNS} WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
            )
        ]

    def _floor(self) -> int:
        """The row ``inventory_base`` names: a full load, or a rollback to one (0: none)."""
        return int(self._db.meta(BASE_META) or 0)

    def base(self) -> int:
        """The full load whose devices are in force (0 when none: only changes, or nothing)."""
        floor = self._floor()
        if floor == 0:
            return 0
        row = self._db.one("SELECT kind, base FROM inventory_loads WHERE id = ?", (floor,))
        return int(row[1]) if row is not None and row[0] == "rollback" else floor

    def latest(self) -> InventoryLoad | None:
        """The last version that took effect: the full load in force or a rollback to it, or a
        change file after it."""
        row = self._db.one(
            f"{LOAD_COLUMNS} WHERE state IN ('in_force', 'applied') AND id >= ? "
            "ORDER BY id DESC LIMIT 1",
            (self._floor(),),
        )
        return None if row is None else decode_load(row)

    def in_force_count(self) -> int:
        """How many devices are in force."""
        latest = self.latest()
        if latest is None:
            return 0
        if latest.device_count is not None:
            return latest.device_count
        # Change files recorded before versions counted their devices: exact with no full
        # load in force; else the full load's count and every device changed since (an
        # overcount, which makes the limits of spec §17 stricter, never laxer).
        floor = self._floor()
        changed = int(self._db.scalar("SELECT COUNT(*) FROM devices WHERE load_id > ?", (floor,)))
        base = self.version(self.base()) if floor else None
        return changed + (base.device_count or 0 if base is not None else 0)

    # -- rollback -----------------------------------------------------------------------------

    def rollback_target(self) -> int:
        """The kept full load loaded before the one in force (``poagate inventory rollback``
        without ``--to``)."""
        base = self.base()
        db = self._db
        for (load_id,) in db.fetch(
            "SELECT id FROM inventory_loads WHERE kind = 'full' AND state = 'replaced' "
            "AND id < ? ORDER BY id DESC",
            (base if base else 2**31 - 1,),
        ):
            fence = block_ids(load_id, fence_kind(DEVICES))[0]
            if db.scalar("SELECT 1 FROM fleet_blocks WHERE id = ?", (fence,)) is not None:
                return int(load_id)
        raise VersionUnavailableError(
            "no earlier full load of the inventory is kept to go back to"
            + (f" (version {base} is in force)" if base else "")
        )

    def activate(
        self,
        load_id: int,
        source: str,
        at: datetime,
        admit: Admit | None = None,
        keep: int = KEPT_VERSIONS,
    ) -> InventoryLoad:
        """Put the full load ``load_id`` back in force, as it was loaded, in one transaction
        (decisions see the version before or this one, never half); change files applied since
        it stop applying. A version of kind ``rollback``. ``admit``, called with the devices in
        force and the version's, may refuse it by raising; ``keep`` as for ``clean``."""
        db = self._db
        with db.transaction():
            target = self.version(load_id)
            if target is None or target.kind != "full":
                raise VersionUnavailableError(
                    f"inventory version {load_id} is not a full load"
                    if target is not None
                    else f"there is no inventory version {load_id}"
                )
            in_force = self.base()
            # Taking the row first: a clean that would clear it waits for this transaction, or
            # has cleared it already and the state says so (both backends).
            db.run(
                "UPDATE inventory_loads SET state = 'in_force' WHERE id = ? AND "
                "state IN ('replaced', 'in_force')",
                (load_id,),
            )
            state = db.scalar("SELECT state FROM inventory_loads WHERE id = ?", (load_id,))
            fence = db.scalar(
                "SELECT 1 FROM fleet_blocks WHERE id = ?",
                (block_ids(load_id, fence_kind(DEVICES))[0],),
            )
            if state != "in_force" or fence is None:
                now = target.state if state != "in_force" else "cleared"
                raise VersionUnavailableError(
                    f"inventory version {load_id} is {now}: its devices are no longer kept, "
                    "so it cannot be put back in force"
                )
            devices = int(target.device_count or 0)
            if admit is not None:
                admit(self.in_force_count(), devices)
            if in_force and in_force != load_id:
                db.run("UPDATE inventory_loads SET state = 'replaced' WHERE id = ?", (in_force,))
            db.run(
                "INSERT INTO inventory_loads (loaded_at, source, sha256, rows_read, "
                "rows_accepted, rows_rejected, kind, state, base, device_count, finished_at) "
                "VALUES (?, ?, ?, 0, 0, 0, 'rollback', 'applied', ?, ?, ?)",
                (to_us(at), source, target.sha256, load_id, devices, to_us(at)),
            )
            rollback = int(db.scalar("SELECT MAX(id) FROM inventory_loads"))
            db.run_many(UPSERT_META, [(BASE_META, str(rollback)), (GENERATION_META, str(rollback))])
        version = self.version(rollback)
        assert version is not None
        self.clean(keep)
        return version

    # -- clearing -----------------------------------------------------------------------------

    def clean(self, keep: int = KEPT_VERSIONS) -> int:
        """Clear what no reader needs any more, in short transactions: the pages of loads no
        longer loading, the blocks of loads failed or refused and of replaced ones beyond the
        ``keep`` most recent (which become ``cleared``), and change rows older than the
        version in force. How many change rows went."""
        db = self._db
        floor = self._floor()
        with db.transaction():
            db.run(
                "DELETE FROM fleet_pages WHERE load_id IN (SELECT id FROM inventory_loads "
                "WHERE state <> 'loading')"
            )
        replaced = [
            r[0]
            for r in db.fetch(
                "SELECT id FROM inventory_loads WHERE kind = 'full' AND state = 'replaced' "
                "ORDER BY id DESC"
            )
        ]
        for gone in replaced[keep:]:
            with db.transaction():
                db.run(
                    "UPDATE inventory_loads SET state = 'cleared' WHERE id = ? "
                    "AND state = 'replaced'",
                    (gone,),
                )
                if db.scalar("SELECT state FROM inventory_loads WHERE id = ?", (gone,)) == (
                    "cleared"
                ):
                    db.run("DELETE FROM fleet_blocks WHERE id >= ? AND id < ?", block_ids(gone))
        for (gone,) in db.fetch(
            "SELECT id FROM inventory_loads WHERE state IN ('failed', 'refused', 'cleared')"
        ):
            with db.transaction():
                db.run("DELETE FROM fleet_blocks WHERE id >= ? AND id < ?", block_ids(gone))
        removed = 0
        for table, key in (("devices", "device_id"), ("removed_devices", "device_id")):
            while True:
                with db.transaction():
                    stale = [
                        r[0]
                        for r in db.fetch(
                            f"SELECT {key} FROM {table} WHERE load_id < ? LIMIT ?",
                            (floor, _CLEAN_BATCH),
                        )
                    ]
                    if stale:
                        db.run(f"DELETE FROM {table} WHERE {{in:{key}}}", (db.list_param(stale),))
                removed += len(stale)
                if len(stale) < _CLEAN_BATCH:
                    break
        return removed
