"""The embedded store: one SQLite file in WAL mode.

Durability: every transaction commits atomically. With ``durable=True`` (the service) SQLite
syncs each commit to disk (``synchronous=FULL``), so an answer sent after a commit is never
taken back; a replay uses ``synchronous=NORMAL``, which in WAL mode survives any crash of the
process and keeps the file consistent after a power loss, at the price of possibly losing the
last batches — which a replay simply redoes.

Who may write: a replay keeps the gate's state in its own memory, so it must be the only writer
and takes ``<file>.lock`` exclusively (``lock="exclusive"``). Server processes decide inside
each transaction from what the database holds, so several may write side by side; each holds
the same lock shared (``lock="shared"``), which keeps a replay out while they run and them out
while a replay runs. Readers (``readonly=True``) need no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Literal, TypedDict, Unpack

import orjson

from poagate.store import StoreError, StoreUnavailableError
from poagate.store.schema import (
    MIN_COMPATIBLE_KEY,
    RESTORE_MARKER_KEY,
    SCHEMA_REVISION,
    incomplete_store,
    newer_schema_usable,
)
from poagate.store.sqlbase import Database, Dialect, render_lists
from poagate.store.store import Store

VACUUM_PAGES = 500  # pages a purge gives back a write (then as long a pause: store.purge)
LockMode = Literal["exclusive", "shared"] | None


class StoreLock:
    """An advisory lock (``flock``) on a file beside the database."""

    def __init__(self, path: Path, wait_seconds: float, purpose: str, shared: bool = False) -> None:
        self.path = path
        self._file: IO[str] | None = open(path, "a+")  # noqa: SIM115 - held until release
        deadline = time.monotonic() + wait_seconds
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        while True:
            try:
                fcntl.flock(self._file.fileno(), mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self._file.close()
                    self._file = None
                    raise StoreError(f"{purpose} (lock {path})") from None
                time.sleep(0.05)
        if not shared:
            self._file.seek(0)
            self._file.truncate()
            self._file.write(f"{os.getpid()}\n")
            self._file.flush()

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def store_lock(database: Path, wait_seconds: float = 30.0, shared: bool = False) -> StoreLock:
    """The lock every process that writes ``database`` holds; it also waits until no writer
    process of an earlier replay is still committing (see ``poagate.service.writer``)."""
    lock = StoreLock(
        database.with_name(database.name + ".lock"),
        wait_seconds,
        f"{database} is in use by another poagate process"
        + ("" if shared else " (a replay needs it alone)")
        + "; wait for it to finish or stop it",
        shared=shared,
    )
    try:
        writer_lock(database, wait_seconds).release()
    except BaseException:
        lock.release()
        raise
    return lock


def writer_lock(database: Path, wait_seconds: float = 30.0) -> StoreLock:
    """The lock a replay's writer process holds while it may still commit."""
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


def _min_compatible(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (MIN_COMPATIBLE_KEY,)).fetchone()
    return None if row is None else str(row[0])


def restore_marker(conn: sqlite3.Connection) -> str | None:
    """The restore marker (``schema.RESTORE_MARKER_KEY``) when a restore into this file has not
    finished; None otherwise (a file without even a ``meta`` table included)."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (RESTORE_MARKER_KEY,)).fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else str(row[0])


def ensure_schema(path: Path, restoring: bool = False) -> None:
    """Create or migrate the database file to ``SCHEMA_REVISION``; a newer schema is used as it
    is when it says this code still works on it (``schema.newer_schema_usable``). A file a
    restore has not finished is refused, except by that restore (``restoring``)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        marker = None if restoring else restore_marker(conn)
        if marker is not None:
            raise StoreError(incomplete_store(str(path), marker))
        current = _schema_revision(conn)
        if (
            current is not None
            and current > SCHEMA_REVISION
            and newer_schema_usable(current, _min_compatible(conn))
        ):
            return
    if current == SCHEMA_REVISION:
        return
    from poagate.store.migrate import upgrade  # Alembic is slow to import

    if current is None:
        _incremental_vacuum_when_new(path)

    if current is not None and current > SCHEMA_REVISION:
        raise StoreError(
            f"{path} has schema revision {current}, newer than this poagate ({SCHEMA_REVISION}); "
            "upgrade poagate"
        )
    upgrade(f"sqlite:///{path}")


def _incremental_vacuum_when_new(path: Path) -> None:
    """A new store gives purged pages back to the file system a little at a time (spec §15):
    ``auto_vacuum=INCREMENTAL`` can be chosen only before the first table, and is kept in the
    file by a ``VACUUM`` of the empty database. An existing store (created before, with the
    default ``NONE``) needs one ``VACUUM`` after setting it (docs/operations.md)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        if conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0:
            conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
            conn.execute("VACUUM")


class SqliteDatabase(Database):
    """One SQLite file (see the module docstring)."""

    dialect: Dialect = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        durable: bool = False,
        lock: LockMode | bool = "exclusive",
        lock_wait_seconds: float = 30.0,
        busy_timeout_ms: int = 10_000,
    ) -> None:
        """Open (creating or migrating) the store at ``path``.

        ``lock=None`` (or False) is for a connection of a process whose parent already holds
        the lock (the replay's writer process).
        """
        self.path = Path(path)
        self.readonly = readonly
        self._lock: StoreLock | None = None
        self._rendered: dict[str, str] = {}
        if lock is True:
            lock = "exclusive"
        # Server processes queue for writing on a kernel lock: SQLite's own busy handler sleeps
        # in growing steps (up to 100 ms) while another process writes, which measured a p99 of
        # 1.3 s with two server processes; a blocked flock wakes the moment the lock is free.
        self._queue_file: IO[str] | None = None
        if lock == "shared" and not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._queue_file = open(  # noqa: SIM115 - held while the store is open
                self.path.with_name(self.path.name + ".write.lock"), "a+"
            )
        if readonly:
            if not self.path.exists():
                raise StoreError(f"no database at {self.path}")
            self._conn = sqlite3.connect(
                f"file:{self.path}?mode=ro",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
            )
            marker = restore_marker(self._conn)
            if marker is not None:
                self._conn.close()
                raise StoreError(incomplete_store(str(self.path), marker))
            if _schema_revision(self._conn) != SCHEMA_REVISION:
                raise StoreError(f"{self.path} is not a poagate database of this version")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if lock:
                self._lock = store_lock(self.path, lock_wait_seconds, shared=lock == "shared")
            try:
                ensure_schema(self.path)
                self._conn = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False
                )
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            except BaseException:
                if self._lock is not None:
                    self._lock.release()
                raise
        self._conn.execute("PRAGMA cache_size=-65536")  # 64 MiB
        self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        if not readonly:
            # A WAL checkpoint syncs the database; every 40 MiB rather than SQLite's 4 MiB.
            self._conn.execute("PRAGMA wal_autocheckpoint=10000")

    @property
    def location(self) -> str:
        return str(self.path)

    def limit_cache(self, mebibytes: int) -> None:
        self._conn.execute(f"PRAGMA cache_size=-{int(mebibytes) * 1024}")
        self._conn.execute("PRAGMA shrink_memory")

    def close(self) -> None:
        self._conn.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if self._queue_file is not None:
            self._queue_file.close()
            self._queue_file = None

    @contextlib.contextmanager
    def _outermost(self) -> Iterator[None]:
        if self.readonly:
            raise StoreError(f"{self.path} is open read-only")
        with self._write_turn():
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreUnavailableError(f"the database is busy: {exc}") from exc
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                self._conn.execute("ROLLBACK")
                raise StoreUnavailableError(f"the commit failed: {exc}") from exc

    @contextlib.contextmanager
    def _write_turn(self) -> Iterator[None]:
        """Wait for this process's turn to write, when server processes share the file."""
        queue = self._queue_file
        if queue is None:
            yield
            return
        fcntl.flock(queue.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(queue.fileno(), fcntl.LOCK_UN)

    def size_bytes(self) -> int:
        """The database file and its write-ahead log, in bytes."""
        wal = self.path.with_name(self.path.name + "-wal")
        return sum(p.stat().st_size for p in (self.path, wal) if p.exists())

    def give_back_space(self) -> int:
        """Return free pages to the file system (``PRAGMA incremental_vacuum``), outside any
        transaction; how many pages were free before (0 when the store does not use
        incremental auto-vacuum: see ``_incremental_vacuum_when_new``)."""
        if self.in_transaction or self._conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
            return 0
        free = int(self._conn.execute("PRAGMA freelist_count").fetchone()[0])
        left = free
        while left > 0:
            # A few thousand pages a write (a statement steps a page at a time: executescript
            # runs it to the end, where execute would stop after the first page).
            began = time.monotonic()
            with self._write_turn():
                self._conn.executescript(f"PRAGMA incremental_vacuum({VACUUM_PAGES});")
            time.sleep(time.monotonic() - began)
            now_free = int(self._conn.execute("PRAGMA freelist_count").fetchone()[0])
            if now_free >= left:
                break  # another writer is using them
            left = now_free
        return free

    def _render(self, sql: str) -> str:
        rendered = self._rendered.get(sql)
        if rendered is None:
            rendered = render_lists(sql, "{column} IN (SELECT value FROM json_each(?))")
            self._rendered[sql] = rendered
        return rendered

    def list_param(self, values: Sequence[Any]) -> Any:
        return orjson.dumps(list(values)).decode()

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(self._render(sql), params).fetchall()

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        yield from self._conn.execute(self._render(sql), params)

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._conn.execute(self._render(sql), params)

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(self._render(sql), rows)


class SqliteOptions(TypedDict, total=False):
    """``SqliteDatabase``'s options (see there)."""

    readonly: bool
    durable: bool
    lock: LockMode | bool
    lock_wait_seconds: float
    busy_timeout_ms: int


class SqliteStore(Store):
    """The store on one SQLite file; the options are ``SqliteDatabase``'s."""

    def __init__(self, path: str | os.PathLike[str], **options: Unpack[SqliteOptions]) -> None:
        self.db: SqliteDatabase = SqliteDatabase(path, **options)
        super().__init__(self.db)

    @property
    def path(self) -> Path:
        return self.db.path
