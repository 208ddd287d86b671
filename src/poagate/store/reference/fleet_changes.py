"""A change file (spec §11): devices upserted and removed over the inventory in force, as rows
of ``devices`` and ``removed_devices`` tagged with the change's load id, in one transaction, so
its cost grows with the changes and not with the fleet. Readers take a device from those rows
when they are newer than the full load in force (``poagate.store.reference.fleet_reads``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from poagate.domain.reference import Device, DeviceType, SmetsVersion
from poagate.formats.errors import Rejection
from poagate.formats.reference.device_records import Records, device_id_of, device_of
from poagate.formats.timestamps import to_us
from poagate.store.inputs import REJECTED, encode_rejected
from poagate.store.reference.fleet_reads import (
    DEVICE_COLUMNS,
    DEVICE_NULLABLE_TEXT,
    GENERATION_META,
)
from poagate.store.sqlbase import NULL_TEXT, UPSERT_META, Database, values_clause

UPSERT_DEVICE = (
    f"INSERT INTO devices ({','.join(DEVICE_COLUMNS)}, load_id) "
    f"VALUES ({values_clause(DEVICE_COLUMNS, nullable_text=DEVICE_NULLABLE_TEXT)}, ?) "
    "ON CONFLICT (device_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in (*DEVICE_COLUMNS[1:], "load_id"))
)


_TEXT_OF: dict[DeviceType | SmetsVersion, str] = {
    **{t: t.value for t in DeviceType},
    **{v: v.value for v in SmetsVersion},
}


def encode_device(d: Device, load_id: int) -> tuple[Any, ...]:
    """A row of ``DEVICE_COLUMNS`` and the load id; NULL text as '' (see ``NULL_TEXT``).

    Enum members are bound as their plain text: sqlite3 adapts a str subclass slowly."""
    return (
        d.device_id,
        _TEXT_OF[d.device_type],
        _TEXT_OF[d.smets_version],
        d.manufacturer,
        d.chf_id or NULL_TEXT,
        d.mpan or NULL_TEXT,
        d.network_operator,
        d.postcode or NULL_TEXT,
        load_id,
    )


def write_changes(
    db: Database,
    base: int,
    device_count: int,
    upserts: Records,
    removals: Records,
    names: Sequence[str],
    rejected: Sequence[Rejection],
    rows_read: int,
    source: str,
    sha256: str,
    at: datetime,
) -> int:
    """Record a change file over the full load ``base`` (inside the caller's transaction),
    leaving ``device_count`` devices in force: ``upserts`` (``STAGED`` records) and ``removals``
    (``STAGED`` records of which only key and line count), each device's latest change
    (``latest_changes``). Its load id."""
    db.run(
        "INSERT INTO inventory_loads (loaded_at, source, sha256, rows_read, "
        "rows_accepted, rows_rejected, kind, state, base, rows_removed, finished_at, "
        "device_count) VALUES (?, ?, ?, ?, ?, ?, 'changes', 'applied', ?, ?, ?, ?)",
        (
            to_us(at),
            source,
            sha256,
            rows_read,
            rows_read - len(rejected),
            len(rejected),
            base,
            len(removals),
            to_us(at),
            device_count,
        ),
    )
    load_id = int(db.scalar("SELECT MAX(id) FROM inventory_loads"))
    changed = [device_of(r, names) for r in upserts]
    gone = [device_id_of(int(key)) for key in removals["key"]]
    if changed:
        db.run_many(UPSERT_DEVICE, [encode_device(d, load_id) for d in changed])
        db.run(
            "DELETE FROM removed_devices WHERE {in:device_id}",
            (db.list_param([d.device_id for d in changed]),),
        )
    if gone:
        db.run("DELETE FROM devices WHERE {in:device_id}", (db.list_param(gone),))
        db.run_many(
            "INSERT INTO removed_devices (device_id, load_id) VALUES (?, ?) "
            "ON CONFLICT (device_id) DO UPDATE SET load_id = excluded.load_id",
            [(device_id, load_id) for device_id in gone],
        )
    db.insert(REJECTED, encode_rejected("inventory", rejected))
    db.run(UPSERT_META, (GENERATION_META, str(load_id)))
    return load_id


def latest_changes(upserts: Records, removals: Records) -> tuple[Records, Records]:
    """Each device's latest change: an upsert or a removal, whichever is on the later line."""
    both = np.concatenate([upserts, removals])
    is_removal = np.r_[np.zeros(len(upserts), np.bool_), np.ones(len(removals), np.bool_)]
    order = np.lexsort((both["line"], both["key"]))
    keys = both["key"][order]
    last = np.ones(len(order), np.bool_)
    last[:-1] = keys[1:] != keys[:-1]
    kept = order[last]
    return both[kept[~is_removal[kept]]], both[kept[is_removal[kept]]]
