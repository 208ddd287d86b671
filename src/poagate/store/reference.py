"""Reference data and configuration (SPEC §3): the inventory, the GUID list's versions, and the
settings in force — loaded by DCC operations or a replay, read by every decision."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from poagate.domain.reference import Config, Device, GuidList, GuidListVersion, Inventory
from poagate.formats.guid_list import GuidListFile
from poagate.formats.inventory import InventoryFile
from poagate.formats.timestamps import from_us, to_us
from poagate.store.codec import (
    DEVICE_COLUMNS,
    Rows,
    config_of,
    decode_device,
    encode_config,
    encode_device,
    encode_rejected,
)
from poagate.store.records import InventoryLoad
from poagate.store.sqlbase import Database
from poagate.store.writes import write_rows

GUID_FILE_META = "guid_list_file_sha256"
_DEVICES = f"SELECT {','.join(DEVICE_COLUMNS)} FROM devices"


class ReferenceData:
    """The store's reference data and configuration (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- configuration ----------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """The configuration in force as stored (the gate's fields and the service's)."""
        body = self._db.scalar("SELECT body FROM config_versions ORDER BY id DESC LIMIT 1")
        return {} if body is None else dict(orjson.loads(body))

    def config(self) -> Config:
        return config_of(self.settings())

    def save_settings(self, settings: dict[str, Any], actor: str, at: datetime) -> bool:
        """Record ``settings`` (a complete configuration body) as in force from ``at``."""
        body = orjson.dumps(settings, option=orjson.OPT_SORT_KEYS).decode()
        db = self._db
        with db.transaction():
            current = db.scalar("SELECT body FROM config_versions ORDER BY id DESC LIMIT 1")
            if current is not None and orjson.loads(current) == settings:
                return False
            db.run(
                "INSERT INTO config_versions (set_at, actor, body) VALUES (?, ?, ?)",
                (to_us(at), actor, body),
            )
        return True

    def save_config(self, config: Config, actor: str, at: datetime) -> bool:
        """Record the gate's configuration, keeping the service's settings as they are."""
        current = self.settings()
        if not current and config == Config():
            return False  # the defaults are in force without a record
        return self.save_settings({**current, **orjson.loads(encode_config(config))}, actor, at)

    # -- the inventory ------------------------------------------------------------------------

    def inventory(self) -> Inventory:
        return Inventory(decode_device(row) for row in self._db.stream(_DEVICES))

    def last_inventory_load(self) -> InventoryLoad | None:
        row = self._db.one(
            "SELECT id, loaded_at, source, sha256, rows_read, rows_accepted, rows_rejected "
            "FROM inventory_loads ORDER BY id DESC LIMIT 1"
        )
        return None if row is None else InventoryLoad(row[0], from_us(row[1]), *row[2:])

    def prepare_inventory(
        self, file: InventoryFile, source: str, sha256: str, at: datetime
    ) -> tuple[Rows, InventoryLoad]:
        """The rows that load ``file``, for one transaction: its record, its devices (each
        replacing the device's earlier row) and its rejected rows."""
        next_id = int(self._db.scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM inventory_loads"))
        load = InventoryLoad(
            next_id, at, source, sha256, file.rows_read, len(file.devices), len(file.rejected)
        )
        rows = Rows(
            inventory_load=(
                load.id,
                to_us(at),
                source,
                sha256,
                load.rows_read,
                load.rows_accepted,
                load.rows_rejected,
            ),
            devices=[encode_device(d, load.id) for d in file.devices],
            rejected=encode_rejected("inventory", file.rejected),
        )
        return rows, load

    def load_inventory(
        self, file: InventoryFile, source: str, sha256: str, at: datetime
    ) -> InventoryLoad:
        with self._db.transaction():
            rows, load = self.prepare_inventory(file, source, sha256, at)
            write_rows(self._db, rows)
        return load

    def inventory_generation(self) -> int:
        """Changes whenever the devices do: every write to ``devices`` comes with a new
        ``inventory_loads`` row in the same transaction (``prepare_inventory``)."""
        return int(self._db.scalar("SELECT COALESCE(MAX(id), 0) FROM inventory_loads"))

    def devices_for(self, device_ids: Sequence[str], chf_ids: Sequence[str]) -> list[Device]:
        """The devices an event group needs: its targets, and every ESME joined to its CHFs."""
        db = self._db
        return [
            decode_device(row)
            for row in db.fetch(
                f"{_DEVICES} WHERE {{in:device_id}} "
                f"UNION {_DEVICES} WHERE {{in:chf_id}} AND device_type = 'ESME'",
                (db.list_param(device_ids), db.list_param(chf_ids)),
            )
        ]

    # -- the GUID list --------------------------------------------------------------------------

    def guid_version(self) -> GuidListVersion | None:
        """The version in force."""
        row = self._db.one(
            "SELECT number, loaded_at, entry_count, sha256 FROM guid_list_versions "
            "ORDER BY number DESC LIMIT 1"
        )
        return None if row is None else GuidListVersion(row[0], from_us(row[1]), row[2], row[3])

    def guid_list(self) -> GuidList:
        version = self.guid_version()
        if version is None:
            return GuidList(None, frozenset())
        rows = self._db.stream(
            "SELECT device_id FROM guid_list_entries WHERE version = ?", (version.number,)
        )
        return GuidList(version, frozenset(r[0] for r in rows))

    def guid_list_for(self, device_ids: Sequence[str]) -> GuidList:
        """The GUID list in force, as far as the given devices are concerned."""
        version = self.guid_version()
        if version is None:
            return GuidList(None, frozenset())
        db = self._db
        members = db.fetch(
            "SELECT device_id FROM guid_list_entries WHERE version = ? AND {in:device_id}",
            (version.number, db.list_param(device_ids)),
        )
        return GuidList(version, frozenset(r[0] for r in members))

    def guid_list_versions(self) -> list[GuidListVersion]:
        return [
            GuidListVersion(r[0], from_us(r[1]), r[2], r[3])
            for r in self._db.fetch(
                "SELECT number, loaded_at, entry_count, sha256 FROM guid_list_versions "
                "ORDER BY number"
            )
        ]

    def prepare_guid_list(
        self, file: GuidListFile, source: str, sha256: str, at: datetime
    ) -> tuple[Rows, GuidListVersion, bool]:
        """The rows that load a GUID list file (``sha256`` of its raw bytes): a new version
        unless its content (SHA-256 of the normalised Device IDs) is that of the version in
        force, and its rejected rows."""
        current = self.guid_version()
        rows = Rows(
            rejected=encode_rejected("guid_list", file.rejected), meta=[(GUID_FILE_META, sha256)]
        )
        if current is not None and current.sha256 == file.sha256:
            return rows, current, False
        number = 1 if current is None else current.number + 1
        version = GuidListVersion(number, at, len(file.devices), file.sha256)
        rows.guid_version = (number, to_us(at), source, version.entry_count, version.sha256)
        rows.guid_entries = [(number, d) for d in sorted(file.devices)]
        return rows, version, True

    def load_guid_list(
        self, file: GuidListFile, source: str, sha256: str, at: datetime
    ) -> tuple[GuidListVersion, bool]:
        """Load a GUID list file: the version in force after it, and whether it is new."""
        with self._db.transaction():
            rows, version, new = self.prepare_guid_list(file, source, sha256, at)
            write_rows(self._db, rows)
        return version, new

    def last_guid_list_file(self) -> str | None:
        """The SHA-256 of the GUID list file loaded last (its raw bytes)."""
        return self._db.meta(GUID_FILE_META)
