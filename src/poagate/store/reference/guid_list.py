"""The GUID list (spec §3): its versions (``guid_list_versions``) and their entries
(``guid_list_entries``) — loaded by DCC operations or a replay, read by every decision.

A GUID list of millions of lines is staged a block at a time under the number its version will
have, and becomes the version in force when that version is recorded: readers take the highest
recorded number (or the one a rollback put back, meta ``guid_list_in_force``), so they never
see a list half loaded. Versions are reference data: the one in
force is kept, and a load clears the entries of a version never recorded (``TABLES``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime

from poagate.domain.reference import GuidList, GuidListVersion
from poagate.formats.errors import Rejection
from poagate.formats.timestamps import from_us, to_us
from poagate.store.inputs import REJECTED, encode_rejected
from poagate.store.reference.fleet_versions import VersionUnavailableError
from poagate.store.sqlbase import UPSERT_META, Database, Kept

TABLES = (Kept("guid_list_versions", "loaded_at"), Kept("guid_list_entries", None))

GUID_FILE_META = "guid_list_file_sha256"
GUID_IN_FORCE_META = "guid_list_in_force"
_IN_FORCE = (
    "SELECT number, loaded_at, entry_count, sha256 FROM guid_list_versions WHERE number = "
    f"COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = '{GUID_IN_FORCE_META}'), "
    "(SELECT MAX(number) FROM guid_list_versions))"
)


class GuidLists:
    """The GUID list's versions (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def guid_version(self) -> GuidListVersion | None:
        """The version in force: the one meta ``guid_list_in_force`` names (a rollback's), else
        the latest (a store written before rollbacks)."""
        row = self._db.one(_IN_FORCE)
        return None if row is None else GuidListVersion(row[0], from_us(row[1]), row[2], row[3])

    def guid_rollback_target(self) -> int:
        """The version before the one in force (``poagate guid-list rollback`` without
        ``--to``); ``VersionUnavailableError`` when there is none."""
        current = self.guid_version()
        number = self._db.scalar(
            "SELECT MAX(number) FROM guid_list_versions WHERE number < ?",
            (current.number if current is not None else 0,),
        )
        if number is None:
            raise VersionUnavailableError("no earlier version of the GUID list to go back to")
        return int(number)

    def activate_guid_list(
        self, number: int, admit: Callable[[int, int], None] | None = None
    ) -> GuidListVersion:
        """Put version ``number`` back in force at once (its entries are kept); ``admit``,
        called with the entries in force and the version's, may refuse it by raising."""
        db = self._db
        with db.transaction():
            row = db.one(
                "SELECT number, loaded_at, entry_count, sha256 FROM guid_list_versions "
                "WHERE number = ?",
                (number,),
            )
            if row is None:
                raise VersionUnavailableError(f"there is no GUID list version {number}")
            version = GuidListVersion(row[0], from_us(row[1]), row[2], row[3])
            current = self.guid_version()
            if admit is not None:
                admit(0 if current is None else current.entry_count, version.entry_count)
            db.run(UPSERT_META, (GUID_IN_FORCE_META, str(number)))
            # The file loaded last is no longer the list in force: a replay given it loads it.
            db.run(UPSERT_META, (GUID_FILE_META, ""))
        return version

    def guid_list_for(self, device_ids: Sequence[str]) -> GuidList:
        """The GUID list in force, as far as the given devices are concerned."""
        version = self.guid_version()
        if version is None or not device_ids:
            return GuidList(version, frozenset())
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
        self,
        number: int,
        source: str,
        file_sha256: str,
        at: datetime,
        admit: Callable[[int, int], None] | None = None,
    ) -> tuple[GuidListVersion, bool]:
        """Make the staged entries version ``number``, unless their content (SHA-256 of the
        sorted canonical IDs, read back in order) is that of the version in force: the version
        in force after it, and whether it is new. ``file_sha256`` (the raw file's) is kept for
        a replay to know the file next time. ``admit``, called with the entries in force and
        the new version's, may refuse it by raising: its entries are then cleared, and nothing
        changes."""
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
        if admit is not None:
            try:
                admit(0 if current is None else current.entry_count, count)
            except Exception:
                self._clear_entries(number, above=False)
                raise
        with db.transaction():
            db.run(
                "INSERT INTO guid_list_versions (number, loaded_at, source, entry_count, "
                "sha256) VALUES (?, ?, ?, ?, ?)",
                (number, to_us(at), source, count, sha),
            )
            db.run_many(
                UPSERT_META, [(GUID_FILE_META, file_sha256), (GUID_IN_FORCE_META, str(number))]
            )
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

    def purge_guid_list_versions(self, keep: int, dry_run: bool = False) -> int:
        """Delete (or count) the GUID list's versions but the one in force and the ``keep``
        before it, with their entries (spec §15, ``reference_versions``); how many versions."""
        db = self._db
        oldest_kept = db.scalar(
            "SELECT number FROM guid_list_versions ORDER BY number DESC LIMIT 1 OFFSET ?", (keep,)
        )
        if oldest_kept is None:
            return 0
        gone = [
            int(r[0])
            for r in db.fetch(
                "SELECT number FROM guid_list_versions WHERE number < ? ORDER BY number",
                (oldest_kept,),
            )
        ]
        if dry_run:
            return len(gone)
        for number in gone:
            self._clear_entries(number, above=False)
            with db.transaction():
                db.run("DELETE FROM guid_list_versions WHERE number = ?", (number,))
        return len(gone)

    def last_guid_list_file(self) -> str | None:
        """The SHA-256 of the GUID list file loaded last (its raw bytes)."""
        return self._db.meta(GUID_FILE_META)
