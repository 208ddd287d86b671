"""Reference data and configuration (spec §3): the GUID list's versions and the settings in
force — loaded by DCC operations or a replay, read by every decision. (The inventory is the
fleet's: ``poagate.store.fleet``.)

A GUID list of millions of lines is staged a block at a time under the number its version will
have, and becomes the version in force when that version is recorded: readers take the highest
recorded number, so they never see a list half loaded."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

import orjson

from poagate.domain.reference import Config, GuidList, GuidListVersion
from poagate.formats.errors import Rejection
from poagate.formats.settings import Settings
from poagate.formats.timestamps import from_us, to_us
from poagate.store.codec import encode_rejected
from poagate.store.sqlbase import UPSERT_META, Database
from poagate.store.writes import REJECTED

GUID_FILE_META = "guid_list_file_sha256"


class ReferenceData:
    """The store's reference data and configuration (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # The configuration last read, by its stored text: every group of decisions reads the
        # configuration, and it changes seldom, so it is validated once per version.
        self._read: tuple[str | None, Settings, Config] | None = None

    # -- configuration ----------------------------------------------------------------------------

    def settings(self) -> Settings:
        """The configuration in force (the defaults while none was ever recorded)."""
        return self._in_force()[0]

    def config(self) -> Config:
        """The gate's part of the configuration in force."""
        return self._in_force()[1]

    def _in_force(self) -> tuple[Settings, Config]:
        body = self._db.scalar("SELECT body FROM config_versions ORDER BY id DESC LIMIT 1")
        read = self._read
        if read is None or read[0] != body:
            settings = Settings.stored({} if body is None else orjson.loads(body))
            read = self._read = (body, settings, settings.gate_config())
        return read[1], read[2]

    def save_settings(self, settings: Settings, actor: str, at: datetime) -> bool:
        """Record ``settings`` as in force from ``at``; False (nothing recorded) when they are
        the settings in force already (the defaults, while none was ever recorded)."""
        db = self._db
        with db.transaction():
            if self.settings() == settings:
                return False
            body = orjson.dumps(settings.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
            db.run(
                "INSERT INTO config_versions (set_at, actor, body) VALUES (?, ?, ?)",
                (to_us(at), actor, body.decode()),
            )
        return True

    def save_config(self, config: Config, actor: str, at: datetime) -> bool:
        """Record the gate's configuration, keeping the other settings as they are."""
        return self.save_settings(self.settings().with_gate(config), actor, at)

    # -- the GUID list --------------------------------------------------------------------------

    def guid_version(self) -> GuidListVersion | None:
        """The version in force."""
        row = self._db.one(
            "SELECT number, loaded_at, entry_count, sha256 FROM guid_list_versions "
            "ORDER BY number DESC LIMIT 1"
        )
        return None if row is None else GuidListVersion(row[0], from_us(row[1]), row[2], row[3])

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

    def begin_guid_list(self) -> int:
        """The number the next version will have; entries of a load a crash cut short (a
        number never recorded) are cleared first."""
        db = self._db
        number = int(db.scalar("SELECT COALESCE(MAX(number), 0) + 1 FROM guid_list_versions"))
        self._clear_entries(number, above=True)
        return number

    def stage_guid_list(
        self, number: int, device_ids: set[str], rejected: Sequence[Rejection]
    ) -> None:
        """Commit a block's Device IDs for version ``number`` (not in force until recorded)."""
        db = self._db
        with db.transaction():
            if device_ids:
                db.run_many(
                    "INSERT INTO guid_list_entries (version, device_id) VALUES (?, ?) "
                    "ON CONFLICT DO NOTHING",
                    [(number, d) for d in sorted(device_ids)],
                )
            db.insert(REJECTED, encode_rejected("guid_list", rejected))

    def finish_guid_list(
        self, number: int, source: str, file_sha256: str, at: datetime
    ) -> tuple[GuidListVersion, bool]:
        """Make the staged entries version ``number``, unless their content (SHA-256 of the
        sorted canonical IDs, read back in order) is that of the version in force: the version
        in force after it, and whether it is new. ``file_sha256`` (the raw file's) is kept for
        a replay to know the file next time."""
        db = self._db
        digest = hashlib.sha256()
        count = 0
        for (device_id,) in db.stream(
            "SELECT device_id FROM guid_list_entries WHERE version = ? ORDER BY device_id",
            (number,),
        ):
            digest.update(f"{device_id}\n".encode())
            count += 1
        sha = digest.hexdigest()
        current = self.guid_version()
        if current is not None and current.sha256 == sha:
            self._clear_entries(number, above=False)
            db.set_meta(GUID_FILE_META, file_sha256)
            return current, False
        with db.transaction():
            db.run(
                "INSERT INTO guid_list_versions (number, loaded_at, source, entry_count, "
                "sha256) VALUES (?, ?, ?, ?, ?)",
                (number, to_us(at), source, count, sha),
            )
            db.run(UPSERT_META, (GUID_FILE_META, file_sha256))
        return GuidListVersion(number, at, count, sha), True

    def _clear_entries(self, number: int, above: bool) -> None:
        """Delete the entries of version ``number`` (and, with ``above``, of later numbers), a
        few thousand a transaction."""
        db = self._db
        condition = "version >= ?" if above else "version = ?"
        while True:
            with db.transaction():
                batch = db.fetch(
                    f"SELECT version, device_id FROM guid_list_entries WHERE {condition} "
                    "LIMIT 5000",
                    (number,),
                )
                if batch:
                    db.run_many(
                        "DELETE FROM guid_list_entries WHERE version = ? AND device_id = ?", batch
                    )
            if len(batch) < 5000:
                return

    def last_guid_list_file(self) -> str | None:
        """The SHA-256 of the GUID list file loaded last (its raw bytes)."""
        return self._db.meta(GUID_FILE_META)
