"""Loading reference data for a replay: the inventory and the GUID list, each unless its file is
the one loaded last (SPEC §3, §8)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypeVar

from poagate.domain.reference import GuidList, Inventory
from poagate.formats.errors import InputError
from poagate.formats.guid_list import read_guid_list
from poagate.formats.inventory import read_inventory
from poagate.service.inputs import file_sha256
from poagate.store.codec import Rows
from poagate.store.store import Store

_T = TypeVar("_T")


def read_reference_file(path: Path, reader: Callable[[IO[str], str], _T]) -> _T:
    """Read a reference file as UTF-8 text (a byte-order mark is allowed) with ``reader``."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            return reader(stream, str(path))
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason})") from None


@dataclass(slots=True)
class Reference:
    """The reference data in force after a load, and what the load did."""

    inventory: Inventory
    guid_list: GuidList
    info: dict[str, Any]


def load_reference(
    store: Store,
    inventory_path: Path,
    guid_path: Path,
    now: datetime,
    write: Callable[[Rows], None],
) -> Reference:
    """Load the inventory and the GUID list, each unless its file is the one loaded last.

    A new GUID list file is a new version unless its content is that of the version in force.
    What is loaded goes to the store through ``write``. Raises ``InputError`` for a file that
    cannot be used at all.
    """
    sha = file_sha256(inventory_path)
    reference = store.reference
    last = reference.last_inventory_load()
    if last is not None and last.sha256 == sha:
        load, inventory_loaded = last, False
        inventory = reference.inventory()
    else:
        file = read_reference_file(inventory_path, read_inventory)
        # Devices from earlier loads stay unless this file replaces them (SPEC §3).
        inventory = Inventory() if last is None else reference.inventory()
        rows, load = reference.prepare_inventory(file, str(inventory_path), sha, now)
        write(rows)
        inventory_loaded = True
        inventory.upsert_all(file.devices)

    guid_sha = file_sha256(guid_path)
    if reference.last_guid_list_file() == guid_sha:
        guid_list = reference.guid_list()
        guid_new, guid_rejected = False, 0
    else:
        guid_file = read_reference_file(guid_path, read_guid_list)
        rows, new_version, guid_new = reference.prepare_guid_list(
            guid_file, str(guid_path), guid_sha, now
        )
        write(rows)
        guid_list = GuidList(new_version, guid_file.devices)
        guid_rejected = len(guid_file.rejected)
    version = guid_list.version
    info = {
        "inventory": {
            "load": load.id,
            "loaded_now": inventory_loaded,
            "sha256": load.sha256,
            "rows_accepted": load.rows_accepted,
            "rows_rejected": load.rows_rejected,
        },
        "guid_list": {
            "version": None if version is None else version.number,
            "new_version": guid_new,
            "entries": 0 if version is None else version.entry_count,
            "sha256": None if version is None else version.sha256,
            "rows_rejected_now": guid_rejected,
        },
    }
    return Reference(inventory, guid_list, info)
