"""Reading the fleet in force: the devices and hub routes a group of events names, in a few
statements whatever the group's size (spec §11).

A device comes from the rows of change files newer than the full load in force, when there is
one, else from that load's blocks: the blocks that may hold the keys asked for are found in the
fence (the first key of every block, read once per version and kept: 8 bytes a block), fetched
in one statement, and searched at once with numpy. A hub's route (R8) is its ESME with the
smallest Device ID: the first of its hub records in the blocks, unless a change file removed
or moved that ESME or joined another to the hub, which the change rows say.

A change file's devices are rows of ``devices`` (``DEVICE_COLUMNS``, encoded here for
``poagate.store.reference.fleet`` to write).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from poagate.domain.reference import Device, DeviceType, FleetSlice, Route, SmetsVersion
from poagate.formats.reference.device_records import (
    ESME_CODE,
    Keys,
    Records,
    device_id_of,
    device_of,
)
from poagate.store.reference.fleet_blocks import (
    DEVICES,
    HUBS,
    RECORD,
    block_id,
    block_ids,
    fence_kind,
    runs,
    search,
    spread,
)
from poagate.store.sqlbase import Database

DEVICE_COLUMNS = (
    "device_id",
    "device_type",
    "smets_version",
    "manufacturer",
    "chf_id",
    "mpan",
    "network_operator",
    "postcode",
)


DEVICE_NULLABLE_TEXT = frozenset({"chf_id", "mpan", "postcode"})


_DEVICE_TYPES = {t.value: t for t in DeviceType}
_SMETS = {s.value: s for s in SmetsVersion}


def decode_device(row: Sequence[Any]) -> Device:
    return Device(
        device_id=row[0],
        device_type=_DEVICE_TYPES[row[1]],
        smets_version=_SMETS[row[2]],
        manufacturer=row[3],
        chf_id=row[4],
        mpan=row[5],
        network_operator=row[6],
        postcode=row[7],
    )


BASE_META = "inventory_base"  # the full load in force, or a rollback to one (none: 0)
GENERATION_META = "inventory_generation"  # the last version that changed what is in force
_DEVICES = f"SELECT {','.join(DEVICE_COLUMNS)} FROM devices"
_TOP_BIT = np.uint64(1 << 63)


def keys_of(device_ids: Iterable[str]) -> Keys:
    return np.array([int(d.replace("-", ""), 16) for d in device_ids], np.uint64)


@dataclass(slots=True)
class Changes:
    """The Device IDs change files touched (upserted or removed) since the full load in force,
    and the hubs their upserted rows name, as sorted numbers (8 bytes each)."""

    generation: int
    base: int
    devices: Keys
    hubs: Keys

    @property
    def any(self) -> bool:
        return len(self.devices) > 0

    def touches(self, keys: Keys) -> Any:
        at = np.minimum(np.searchsorted(self.devices, keys), max(len(self.devices) - 1, 0))
        return (self.devices[at] == keys) if len(self.devices) else np.zeros(len(keys), bool)

    def devices_among(self, device_ids: Sequence[str]) -> list[str]:
        if not self.any or not device_ids:
            return []
        hit = self.touches(keys_of(device_ids))
        return [d for d, h in zip(device_ids, hit.tolist(), strict=True) if h]

    def hubs_among(self, chf_ids: Sequence[str]) -> list[str]:
        if len(self.hubs) == 0 or not chf_ids:
            return []
        keys = keys_of(chf_ids)
        at = np.minimum(np.searchsorted(self.hubs, keys), len(self.hubs) - 1)
        return [c for c, h in zip(chf_ids, (self.hubs[at] == keys).tolist(), strict=True) if h]


class FleetReads:
    """Looks devices and routes up in the version in force (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._base = -1
        self._blocks = 0  # the full load whose blocks are read (a rollback's: the one it names)
        self._fences: dict[int, Keys] = {}
        self._names: list[str] = []
        self._known_changes: Changes | None = None

    def generation(self) -> int:
        """Changes whenever what is in force does (a switch, a change file)."""
        return int(self._db.meta(GENERATION_META) or 0)

    def lookup(
        self, device_ids: Sequence[str], chf_ids: Sequence[str], esmes: bool = False
    ) -> FleetSlice:
        """The devices ``device_ids`` (None where unknown) and the routes of ``chf_ids``; with
        ``esmes``, the ESME of each route too."""
        answer = FleetSlice()
        self.fill(answer, device_ids, chf_ids, esmes)
        return answer

    def fill(
        self, answer: FleetSlice, device_ids: Sequence[str], chf_ids: Sequence[str], esmes: bool
    ) -> None:
        """``lookup`` into an existing slice."""
        base = self._current_base()
        changed = base >= 0 and self._changes(base).any
        asked = list(dict.fromkeys(device_ids))
        if chf_ids:
            routes = self._routes(base, list(dict.fromkeys(chf_ids)), changed)
            answer.routes.update(routes)
            if esmes:
                asked += [r.esme_id for r in routes.values() if r.esme_id is not None]
        if asked:
            answer.devices.update(self._devices(base, asked, changed))

    # -- devices ------------------------------------------------------------------------------

    def _devices(self, base: int, ids: list[str], changed: bool) -> dict[str, Device | None]:
        found: dict[str, Device | None] = {}
        changed_ids = self._changes(base).devices_among(ids) if changed else []
        if changed_ids:
            db = self._db
            for row in db.fetch(
                f"{_DEVICES} WHERE {{in:device_id}} AND load_id > ?",
                (db.list_param(changed_ids), base),
            ):
                found[row[0]] = decode_device(row)
            for device_id in changed_ids:
                found.setdefault(device_id, None)  # removed
        rest = [d for d in ids if d not in found] if found else ids
        if not rest:
            return found
        if base <= 0:
            found.update(dict.fromkeys(rest))
            return found
        keys = keys_of(rest)
        records = self._records(self._blocks, DEVICES, keys, whole_runs=False)
        positions, hit = search(records, DEVICES, keys)
        # Plain tuples of the records found: reading a field of a numpy record costs a
        # microsecond, a tuple's a few nanoseconds.
        rows = iter(records[positions[hit]].tolist())
        names = self._names
        for device_id, present in zip(rest, hit.tolist(), strict=True):
            found[device_id] = device_of(next(rows), names) if present else None
        return found

    # -- hubs: routes (R8) and the devices joined to them ------------------------------------

    def members(self, chf_ids: Sequence[str]) -> dict[str, str]:
        """Every device joined to one of the hubs: device_id -> the hub's (spec §9: a message
        from any of them is a sign of life at the hub's site)."""
        base = self._current_base()
        joined = self._joined(base, list(dict.fromkeys(chf_ids)), self._changes(base).any)
        return {device_id_of(key): chf for chf, found in joined.items() for key, _, _ in found}

    def _routes(self, base: int, chf_ids: list[str], changed: bool) -> dict[str, Route]:
        routes: dict[str, Route] = {}
        for chf_id, found in self._joined(base, chf_ids, changed).items():
            esmes = [(key, operator) for key, operator, esme in found if esme]
            if esmes:
                key, operator = min(esmes)
                routes[chf_id] = Route(device_id_of(key), operator)
            else:
                routes[chf_id] = Route(None, "")
        return routes

    def _joined(
        self, base: int, chf_ids: list[str], changed: bool
    ) -> dict[str, list[tuple[int, str, bool]]]:
        """The devices joined to each hub: (Device ID as a number, network operator, ESME?)."""
        joined: dict[str, list[tuple[int, str, bool]]] = {c: [] for c in chf_ids}
        if base > 0 and chf_ids:
            keys = keys_of(chf_ids)
            records = self._records(self._blocks, HUBS, keys, whole_runs=True)
            # Each hub's records: from its first to the first of the next key.
            starts, counts = runs(records, HUBS, keys)
            if counts.sum():
                taken = records[np.repeat(starts, counts) + _within(counts)]
                devices = iter(taken["device"].tolist())
                operators = iter(taken["operator"].tolist())
                types = iter(taken["type"].tolist())
                for chf_id, count in zip(chf_ids, counts.tolist(), strict=True):
                    for _ in range(count):
                        joined[chf_id].append(
                            (next(devices), _operator(next(operators)), next(types) == ESME_CODE)
                        )
        if changed and chf_ids:
            self._apply_changes(base, joined)
        return joined

    def _apply_changes(self, base: int, joined: dict[str, list[tuple[int, str, bool]]]) -> None:
        """Hubs as change files left them: devices they changed or removed leave their old
        hub's list; devices they joined to a hub enter it."""
        db = self._db
        changes = self._changes(base)
        listed = [(chf_id, m) for chf_id, members in joined.items() for m in members]
        touched = changes.touches(np.array([m[0] for _, m in listed], np.uint64))
        if touched.any():
            for chf_id in joined:
                joined[chf_id] = []
            for (chf_id, member), gone in zip(listed, touched.tolist(), strict=True):
                if not gone:
                    joined[chf_id].append(member)
        hubs = changes.hubs_among(list(joined))
        if not hubs:
            return
        for row in db.fetch(
            f"{_DEVICES} WHERE {{in:chf_id}} AND load_id > ?", (db.list_param(hubs), base)
        ):
            device = decode_device(row)
            if device.chf_id in joined:
                joined[device.chf_id].append(
                    (
                        int(device.device_id.replace("-", ""), 16),
                        device.network_operator,
                        device.device_type is DeviceType.ESME,
                    )
                )

    # -- blocks -------------------------------------------------------------------------------

    def _current_base(self) -> int:
        """The full load in force: 0 when none (changes only), and -1 when nothing is loaded
        at all (no change rows either: nothing to ask)."""
        base = int(self._db.meta(BASE_META) or 0)
        if base != self._base:
            self._fences.clear()
            self._blocks = self._blocks_of(base)
            self._names = self._manufacturers(self._blocks)
            self._base = base  # last: a read that failed leaves it to be read again
        if base == 0 and self._db.scalar("SELECT 1 FROM devices LIMIT 1") is None:
            return -1
        return base

    def _changes(self, base: int) -> Changes:
        """Which devices and hubs change files touched since the full load in force, read once
        a generation: most lookups then need no query of the change rows at all."""
        generation = int(self._db.meta(GENERATION_META) or 0)
        known = self._known_changes
        if known is None or known.generation != generation or known.base != base:
            db = self._db
            rows = db.fetch("SELECT device_id, chf_id FROM devices WHERE load_id > ?", (base,))
            removed = db.fetch("SELECT device_id FROM removed_devices WHERE load_id > ?", (base,))
            known = Changes(
                generation,
                base,
                np.unique(keys_of([r[0] for r in rows] + [r[0] for r in removed])),
                np.unique(keys_of([r[1] for r in rows if r[1]])),
            )
            self._known_changes = known
        return known

    def _blocks_of(self, base: int) -> int:
        """The full load whose blocks hold the devices in force: the row ``inventory_base``
        names, or the full load it puts back when it is a rollback (spec §17)."""
        row = self._db.one("SELECT kind, base FROM inventory_loads WHERE id = ?", (base,))
        return int(row[1]) if row is not None and row[0] == "rollback" else base

    def _manufacturers(self, base: int) -> list[str]:
        text = self._db.scalar("SELECT manufacturers FROM inventory_loads WHERE id = ?", (base,))
        return [] if text is None else list(orjson.loads(text))

    def _fence(self, base: int, kind: int) -> Keys:
        fence = self._fences.get(kind)
        if fence is None:
            body = self._db.scalar(
                "SELECT body FROM fleet_blocks WHERE id = ?",
                (block_id(base, fence_kind(kind), 0),),
            )
            if body is not None:
                fence = np.frombuffer(bytes(body), np.uint64)
                self._fences[kind] = fence
                return fence
            firsts = [  # a version stored without its fence row
                r[0]
                for r in self._db.fetch(
                    "SELECT first_key FROM fleet_blocks WHERE id >= ? AND id < ? ORDER BY id",
                    block_ids(base, kind),
                )
            ]
            fence = np.array(firsts, np.int64).view(np.uint64) ^ _TOP_BIT
            self._fences[kind] = fence
        return fence

    def _records(self, base: int, kind: int, keys: Keys, whole_runs: bool) -> Records:
        """The blocks that may hold ``keys``, concatenated in order. With ``whole_runs``,
        every block a key's records may run over (a hub's ESMEs may span two)."""
        fence = self._fence(base, kind)
        if len(fence) == 0:
            return np.empty(0, RECORD[kind])
        spread_keys = spread(keys)
        last = np.searchsorted(fence, spread_keys, side="right") - 1
        if whole_runs:
            first = np.searchsorted(fence, spread_keys, side="left") - 1
            counts = last - first + 1
            wanted: Any = np.unique(np.repeat(first, counts) + _within(counts))
        else:
            wanted = np.unique(last)
        wanted = wanted[wanted >= 0]
        db = self._db
        bodies = [
            r[0]
            for r in db.fetch(
                "SELECT body FROM fleet_blocks WHERE {in:id} ORDER BY id",
                (db.list_param((wanted + block_id(base, kind, 0)).tolist()),),
            )
        ]
        return np.frombuffer(b"".join(bodies), RECORD[kind])


def _within(counts: Any) -> Any:
    """0, 1, … count - 1 for each count, one after the other."""
    total = int(counts.sum())
    return np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)


def _operator(code: int) -> str:
    return "" if code == 255 else f"{code:02d}"
