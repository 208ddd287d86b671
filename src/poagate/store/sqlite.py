"""The embedded store: one SQLite file in WAL mode.

Durability: every ``commit(batch)`` is one transaction. With ``durable=True`` (the service)
SQLite syncs each commit to disk (``synchronous=FULL``); a replay uses ``synchronous=NORMAL``,
which in WAL mode survives any crash of the process and keeps the file consistent after a power
loss, at the price of possibly losing the last batches — which a replay simply redoes.

Only one process may write a store at a time: the gate's state lives in that process's memory,
so two writers would each judge with half the picture. ``open`` takes an advisory lock on
``<file>.lock`` and holds it until ``close``; readers (``readonly=True``) need no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from poagate.domain.events import Ignored
from poagate.domain.gate import ActivationRecord, ForwardedAlert, SuppressionEntry
from poagate.domain.reference import Config, GuidList, GuidListVersion, Inventory
from poagate.formats.errors import Rejection
from poagate.formats.guid_list import GuidListFile
from poagate.formats.inventory import InventoryFile
from poagate.formats.timestamps import from_us, to_us
from poagate.store import Batch, InventoryLoad, SourceState, StoreError
from poagate.store.codec import (
    ACTIVATION_COLUMNS,
    ACTIVATION_MUTABLE,
    ACTIVATION_NULLABLE_INT,
    ACTIVATION_NULLABLE_TEXT,
    AD1_COLUMNS,
    DEVICE_COLUMNS,
    DEVICE_NULLABLE_TEXT,
    FORWARDED_COLUMNS,
    NULL_INT,
    NULL_TEXT,
    SUPPRESSED_COLUMNS,
    Rows,
    decode_activation,
    decode_ad1,
    decode_config,
    decode_device,
    encode_batch,
    encode_config,
    encode_device,
    encode_rejected,
    opt_us,
)
from poagate.store.schema import SCHEMA_REVISION


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


_INSERT_FORWARDED = (
    f"INSERT INTO ad1_outcomes ({','.join(FORWARDED_COLUMNS)}) "
    f"VALUES ({_placeholders(len(FORWARDED_COLUMNS))})"
)
_INSERT_SUPPRESSED = (
    f"INSERT INTO ad1_outcomes ({','.join(SUPPRESSED_COLUMNS)}) "
    f"VALUES ({','.join('NULLIF(?, ' + repr(NULL_TEXT) + ')' if c == 'mpan' else '?' for c in SUPPRESSED_COLUMNS)})"  # noqa: E501
)


def _activation_value(column: str) -> str:
    if column in ACTIVATION_NULLABLE_INT:
        return f"NULLIF(?, {NULL_INT})"
    if column in ACTIVATION_NULLABLE_TEXT:
        return "NULLIF(?, '')"
    return "?"


_UPSERT_ACTIVATION = (
    f"INSERT INTO activations ({','.join(ACTIVATION_COLUMNS)}) "
    f"VALUES ({','.join(_activation_value(c) for c in ACTIVATION_COLUMNS)}) "
    "ON CONFLICT (request_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in ACTIVATION_MUTABLE)
)
_UPSERT_DEVICE = (
    f"INSERT OR REPLACE INTO devices ({','.join(DEVICE_COLUMNS)}, load_id) VALUES ("
    + ",".join("NULLIF(?, '')" if c in DEVICE_NULLABLE_TEXT else "?" for c in DEVICE_COLUMNS)
    + ", ?)"
)
_UPSERT_META = (
    "INSERT INTO meta (key, value) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
GUID_FILE_META = "guid_list_file_sha256"
_INSERT_DUPLICATE = (
    "INSERT INTO ad1_duplicates (alert_id, chf_id, received_at, source, line) "
    f"VALUES (?, ?, ?, NULLIF(?, ''), NULLIF(?, {NULL_INT}))"
)
_INSERT_ACTIVATION_OUTCOME = (
    "INSERT INTO activation_outcomes (device_id, received_at, request_id, success) "
    f"VALUES (?, ?, NULLIF(?, ''), NULLIF(?, {NULL_INT}))"
)
_INSERT_DEVICE_MESSAGE = "INSERT INTO device_messages (device_id, received_at) VALUES (?, ?)"
_INSERT_IGNORED = (
    "INSERT INTO ignored_inputs (received_at, what, source, line) "
    f"VALUES (?, ?, NULLIF(?, ''), NULLIF(?, {NULL_INT}))"
)
_INSERT_REJECTED = (
    "INSERT INTO rejected_inputs (kind, source, line, error, raw) "
    f"VALUES (?, ?, NULLIF(?, {NULL_INT}), ?, ?)"
)


class StoreLock:
    """An exclusive advisory lock (``flock``) on a file beside the database."""

    def __init__(self, path: Path, wait_seconds: float, purpose: str) -> None:
        self.path = path
        self._file: IO[str] | None = open(path, "a+")  # noqa: SIM115 - held until release
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self._file.close()
                    self._file = None
                    raise StoreError(f"{purpose} (lock {path})") from None
                time.sleep(0.05)
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"{os.getpid()}\n")
        self._file.flush()

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def store_lock(database: Path, wait_seconds: float = 30.0) -> StoreLock:
    """The lock every process that writes ``database`` holds; it also waits until no writer
    process of an earlier run is still committing (see ``poagate.service.writer``)."""
    lock = StoreLock(
        database.with_name(database.name + ".lock"),
        wait_seconds,
        f"{database} is in use by another poagate process; wait for it to finish or stop it",
    )
    try:
        writer_lock(database, wait_seconds).release()
    except BaseException:
        lock.release()
        raise
    return lock


def writer_lock(database: Path, wait_seconds: float = 30.0) -> StoreLock:
    """The lock a writer process holds while it may still commit."""
    return StoreLock(
        database.with_name(database.name + ".writer.lock"),
        wait_seconds,
        f"a writer process of an earlier run is still committing to {database}",
    )


def _schema_revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else str(row[0])


def ensure_schema(path: Path) -> None:
    """Create or migrate the database file to ``SCHEMA_REVISION``."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        current = _schema_revision(conn)
    if current == SCHEMA_REVISION:
        return
    from poagate.store.migrate import head_revision, upgrade  # Alembic is slow to import

    if current is not None and current > SCHEMA_REVISION and current != head_revision():
        raise StoreError(
            f"{path} has schema revision {current}, newer than this poagate ({SCHEMA_REVISION}); "
            "upgrade poagate"
        )
    upgrade(f"sqlite:///{path}")


class SqliteStore:
    """``Store`` on one SQLite file (see the module docstring)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        durable: bool = False,
        lock: bool = True,
        lock_wait_seconds: float = 30.0,
    ) -> None:
        """Open (creating or migrating) the store at ``path``.

        ``lock=False`` is for a connection of a process whose parent already holds the lock
        (the writer process); everyone else takes it.
        """
        self.path = Path(path)
        self.readonly = readonly
        self._lock: StoreLock | None = None
        if readonly:
            if not self.path.exists():
                raise StoreError(f"no database at {self.path}")
            self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            if _schema_revision(self._conn) != SCHEMA_REVISION:
                raise StoreError(f"{self.path} is not a poagate database of this version")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if lock:
                self._lock = store_lock(self.path, lock_wait_seconds)
            try:
                ensure_schema(self.path)
                self._conn = sqlite3.connect(self.path, isolation_level=None)
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            except BaseException:
                if self._lock is not None:
                    self._lock.release()
                raise
        self._conn.execute("PRAGMA cache_size=-65536")  # 64 MiB
        self._conn.execute("PRAGMA busy_timeout=10000")
        if not readonly:
            # A WAL checkpoint syncs the database; every 40 MiB rather than SQLite's 4 MiB.
            self._conn.execute("PRAGMA wal_autocheckpoint=10000")
        self._next_seq = int(
            self._conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM ad1_outcomes").fetchone()[0]
        )

    @property
    def location(self) -> str:
        """Where the store is: here, the database file's path."""
        return str(self.path)

    def limit_cache(self, mebibytes: int) -> None:
        """Shrink this connection's page cache (when another process does the writing)."""
        self._conn.execute(f"PRAGMA cache_size=-{int(mebibytes) * 1024}")
        self._conn.execute("PRAGMA shrink_memory")

    def close(self) -> None:
        self._conn.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- meta -----------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as conn:
            conn.execute(_UPSERT_META, (key, value))

    # -- configuration ----------------------------------------------------------------------------

    def config(self) -> Config:
        row = self._conn.execute(
            "SELECT body FROM config_versions ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return Config() if row is None else decode_config(row[0])

    def save_config(self, config: Config, actor: str, at: datetime) -> bool:
        """Record ``config`` as in force from ``at``; False when it is already in force."""
        body = encode_config(config)
        row = self._conn.execute(
            "SELECT body FROM config_versions ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is not None and row[0] == body:
            return False
        if row is None and config == Config():
            return False  # the defaults are in force without a record
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO config_versions (set_at, actor, body) VALUES (?, ?, ?)",
                (to_us(at), actor, body),
            )
        return True

    # -- inventory --------------------------------------------------------------------------------

    def inventory(self) -> Inventory:
        cursor = self._conn.execute(
            f"SELECT {','.join(DEVICE_COLUMNS)} FROM devices ORDER BY rowid"
        )
        return Inventory(decode_device(row) for row in cursor)

    def last_inventory_load(self) -> InventoryLoad | None:
        row = self._conn.execute(
            "SELECT id, loaded_at, source, sha256, rows_read, rows_accepted, rows_rejected "
            "FROM inventory_loads ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return InventoryLoad(row[0], from_us(row[1]), *row[2:])

    def inventory_rows(
        self, file: InventoryFile, source: str, sha256: str, at: datetime
    ) -> tuple[Rows, InventoryLoad]:
        """The rows that load ``file``: its record, its devices (each replacing the device's
        earlier row) and its rejected rows, for one transaction."""
        row = self._conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM inventory_loads").fetchone()
        load = InventoryLoad(
            int(row[0]), at, source, sha256, file.rows_read, len(file.devices), len(file.rejected)
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
        rows, load = self.inventory_rows(file, source, sha256, at)
        self.write(rows)
        return load

    # -- GUID list --------------------------------------------------------------------------------

    def _guid_version(self) -> GuidListVersion | None:
        row = self._conn.execute(
            "SELECT number, loaded_at, entry_count, sha256 FROM guid_list_versions "
            "ORDER BY number DESC LIMIT 1"
        ).fetchone()
        return None if row is None else GuidListVersion(row[0], from_us(row[1]), row[2], row[3])

    def guid_list(self) -> GuidList:
        version = self._guid_version()
        if version is None:
            return GuidList(None, frozenset())
        devices = frozenset(
            r[0]
            for r in self._conn.execute(
                "SELECT device_id FROM guid_list_entries WHERE version = ?", (version.number,)
            )
        )
        return GuidList(version, devices)

    def guid_list_versions(self) -> list[GuidListVersion]:
        return [
            GuidListVersion(r[0], from_us(r[1]), r[2], r[3])
            for r in self._conn.execute(
                "SELECT number, loaded_at, entry_count, sha256 FROM guid_list_versions "
                "ORDER BY number"
            )
        ]

    def guid_list_rows(
        self, file: GuidListFile, source: str, file_sha256: str, at: datetime
    ) -> tuple[Rows, GuidListVersion, bool]:
        """The rows that load a GUID list file: a new version unless its content (SHA-256 of
        the normalised Device IDs) is that of the version in force, and its rejected rows."""
        current = self._guid_version()
        rows = Rows(
            rejected=encode_rejected("guid_list", file.rejected),
            meta=[(GUID_FILE_META, file_sha256)],
        )
        if current is not None and current.sha256 == file.sha256:
            return rows, current, False
        number = 1 if current is None else current.number + 1
        version = GuidListVersion(number, at, len(file.devices), file.sha256)
        rows.guid_version = (number, to_us(at), source, version.entry_count, version.sha256)
        rows.guid_entries = [(number, d) for d in sorted(file.devices)]
        return rows, version, True

    def save_guid_list(
        self, file: GuidListFile, source: str, at: datetime, file_sha256: str = ""
    ) -> tuple[GuidListVersion, bool]:
        rows, version, new = self.guid_list_rows(file, source, file_sha256, at)
        self.write(rows)
        return version, new

    def last_guid_list_file(self) -> str | None:
        """The SHA-256 of the GUID list file loaded last (its raw bytes)."""
        return self.meta(GUID_FILE_META)

    # -- sources and gate state -----------------------------------------------------------------

    def source(self, sha256: str, name: str, events_total: int, at: datetime) -> SourceState:
        row = self._conn.execute(
            "SELECT id, sha256, name, events_total, events_done FROM sources WHERE sha256 = ?",
            (sha256,),
        ).fetchone()
        if row is None:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "INSERT INTO sources (sha256, name, first_seen, events_total, events_done) "
                    "VALUES (?, ?, ?, ?, 0)",
                    (sha256, name, to_us(at), events_total),
                )
            assert cursor.lastrowid is not None
            return SourceState(cursor.lastrowid, sha256, name, events_total, 0)
        return SourceState(*row)

    def activation_records(self) -> Iterator[ActivationRecord]:
        cursor = self._conn.execute(
            f"SELECT {','.join(ACTIVATION_COLUMNS)} FROM activations ORDER BY seq"
        )
        for row in cursor:
            yield decode_activation(row)

    def decided_alert_ids(self) -> Iterator[str]:
        for (alert_id,) in self._conn.execute("SELECT alert_id FROM ad1_outcomes"):
            yield alert_id

    # -- the unit of work -------------------------------------------------------------------------

    def encode(self, batch: Batch) -> Rows:
        """The batch as rows, numbering its AD1 outcomes after those already stored."""
        rows = encode_batch(batch, self._next_seq)
        self._next_seq = rows.next_seq
        return rows

    def write(self, rows: Rows) -> None:
        """Write encoded rows in one transaction."""
        with self._transaction() as conn:
            if rows.inventory_load is not None:
                conn.execute(
                    "INSERT INTO inventory_loads (id, loaded_at, source, sha256, rows_read, "
                    "rows_accepted, rows_rejected) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows.inventory_load,
                )
            if rows.devices:
                conn.executemany(_UPSERT_DEVICE, rows.devices)
            if rows.guid_version is not None:
                conn.execute(
                    "INSERT INTO guid_list_versions (number, loaded_at, source, entry_count, "
                    "sha256) VALUES (?, ?, ?, ?, ?)",
                    rows.guid_version,
                )
            if rows.guid_entries:
                conn.executemany(
                    "INSERT INTO guid_list_entries (version, device_id) VALUES (?, ?)",
                    rows.guid_entries,
                )
            if rows.meta:
                conn.executemany(_UPSERT_META, rows.meta)
            # A repeated alert_id here would be a bug upstream; UNIQUE(alert_id) stops it (R6).
            if rows.forwarded:
                conn.executemany(_INSERT_FORWARDED, rows.forwarded)
            if rows.suppressed:
                conn.executemany(_INSERT_SUPPRESSED, rows.suppressed)
            if rows.activations:
                conn.executemany(_UPSERT_ACTIVATION, rows.activations)
            if rows.duplicates:
                conn.executemany(_INSERT_DUPLICATE, rows.duplicates)
            if rows.activation_outcomes:
                conn.executemany(_INSERT_ACTIVATION_OUTCOME, rows.activation_outcomes)
            if rows.device_messages:
                conn.executemany(_INSERT_DEVICE_MESSAGE, rows.device_messages)
            if rows.ignored:
                conn.executemany(_INSERT_IGNORED, rows.ignored)
            if rows.rejected:
                conn.executemany(_INSERT_REJECTED, rows.rejected)
            if rows.progress:
                conn.executemany("UPDATE sources SET events_done = ? WHERE id = ?", rows.progress)

    def commit(self, batch: Batch) -> None:
        self.write(self.encode(batch))

    # -- reads ------------------------------------------------------------------------------------

    def ad1_outcomes(
        self,
        *,
        suppressed: bool | None = None,
        network_operators: frozenset[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[SuppressionEntry | ForwardedAlert]:
        """Decided AD1s in decision order; ``received_at`` in [``since``, ``until``)."""
        where: list[str] = []
        params: list[Any] = []
        if suppressed is not None:
            where.append("suppressed = ?")
            params.append(suppressed)
        if network_operators is not None:
            where.append(f"network_operator IN ({_placeholders(len(network_operators))})")
            params.extend(sorted(network_operators))
        if since is not None:
            where.append("received_at >= ?")
            params.append(opt_us(since))
        if until is not None:
            where.append("received_at < ?")
            params.append(opt_us(until))
        sql = f"SELECT {','.join(AD1_COLUMNS)} FROM ad1_outcomes"
        if where:
            sql += " WHERE " + " AND ".join(where)
        for row in self._conn.execute(sql + " ORDER BY seq", params):
            yield decode_ad1(row)

    def rejected(self) -> Iterator[tuple[str, Rejection]]:
        for kind, source, line, error, raw in self._conn.execute(
            "SELECT kind, source, line, error, raw FROM rejected_inputs ORDER BY seq"
        ):
            yield kind, Rejection(source, line, error, raw)

    def ignored(self) -> Iterator[tuple[Ignored, str | None, int | None]]:
        for received_at, what, source, line in self._conn.execute(
            "SELECT received_at, what, source, line FROM ignored_inputs ORDER BY seq"
        ):
            yield Ignored(from_us(received_at), what), source, line

    def counts_by_network_operator(self) -> dict[str, tuple[int, int]]:
        """(suppressed, forwarded) AD1s per network operator ("" when unknown)."""
        return {
            operator: (suppressed, forwarded)
            for operator, suppressed, forwarded in self._conn.execute(
                "SELECT network_operator, SUM(suppressed), SUM(1 - suppressed) "
                "FROM ad1_outcomes GROUP BY network_operator ORDER BY network_operator"
            )
        }

    def counts(self) -> dict[str, int]:
        """The figures of ``summary.json``, over everything the store holds."""
        one = self._conn.execute
        suppressed, forwarded = one(
            "SELECT COALESCE(SUM(suppressed), 0), COALESCE(SUM(1 - suppressed), 0) "
            "FROM ad1_outcomes"
        ).fetchone()
        duplicates = one("SELECT COUNT(*) FROM ad1_duplicates").fetchone()[0]
        activations, eligible = one(
            "SELECT COUNT(*), COALESCE(SUM(reason = 'eligible'), 0) FROM activations"
        ).fetchone()
        rejected = one("SELECT COUNT(*) FROM rejected_inputs WHERE kind = 'event'").fetchone()[0]
        return {
            "events_read": one("SELECT COALESCE(SUM(events_done), 0) FROM sources").fetchone()[0],
            "events_rejected": rejected,
            "activations": activations,
            "activations_eligible": eligible,
            "ad1_received": suppressed + forwarded + duplicates,
            "ad1_suppressed": suppressed,
            "ad1_forwarded": forwarded,
            "ad1_duplicates": duplicates,
            "activation_outcomes": one("SELECT COUNT(*) FROM activation_outcomes").fetchone()[0],
            "device_messages": one("SELECT COUNT(*) FROM device_messages").fetchone()[0],
            "messages_ignored": one("SELECT COUNT(*) FROM ignored_inputs").fetchone()[0],
            "inventory_rows_rejected": one(
                "SELECT COUNT(*) FROM rejected_inputs WHERE kind = 'inventory'"
            ).fetchone()[0],
            "guid_list_rows_rejected": one(
                "SELECT COUNT(*) FROM rejected_inputs WHERE kind = 'guid_list'"
            ).fetchone()[0],
        }
