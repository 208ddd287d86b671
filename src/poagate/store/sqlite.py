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
from poagate.store.pacing import Pace
from poagate.store.schema import RESTORE_MARKER_KEY, incomplete_store
from poagate.store.schema_state import (
    SchemaMode,
    read_only_uri,
    settle,
    sqlite_state,
)
from poagate.store.sqlbase import Database, Dialect, render_lists
from poagate.store.store import Store

# pages a step of giving back space returns to the file system (store.pacing sizes it by time)
FIRST_VACUUM_PAGES, LEAST_VACUUM_PAGES, MOST_VACUUM_PAGES = 32, 32, 2_000
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


def restore_marker(conn: sqlite3.Connection) -> str | None:
    """The restore marker (``schema.RESTORE_MARKER_KEY``) when a restore into this file has not
    finished; None otherwise (a file without even a ``meta`` table included)."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (RESTORE_MARKER_KEY,)).fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else str(row[0])


def _refuse_incomplete(path: Path) -> None:
    """A file a restore has not finished is refused (looked at read-only, through SQLite alone:
    see ``schema_state.sqlite_state`` for why never with a file object of Python's own)."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    try:
        with contextlib.closing(sqlite3.connect(read_only_uri(path), uri=True)) as conn:
            marker = restore_marker(conn)
    except sqlite3.DatabaseError:
        return  # not a database: ``sqlite_state`` says so
    if marker is not None:
        raise StoreError(incomplete_store(str(path), marker))


def ensure_schema(path: Path, mode: SchemaMode = "use", restoring: bool = False) -> None:
    """Check the store at ``path`` for a command in ``mode`` (``schema_state``): open it as it
    is, create it at the head, or migrate it; anything else raises ``StoreRefusedError``. A
    file a restore has not finished is refused, except by that restore (``restoring``)."""
    if not restoring:
        _refuse_incomplete(path)
    action = settle(sqlite_state(path), mode)
    if action == "open":
        return
    from poagate.store.migrate import upgrade  # Alembic is slow to import

    if action == "create":
        _incremental_vacuum_when_new(path)
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
        schema: SchemaMode = "use",
    ) -> None:
        """Open the store at ``path``: one that exists at this code's revision, unless
        ``schema`` says it may be created or migrated (``schema_state``). Anything else is
        refused (``StoreRefusedError``) before any file is made beside ``path``.

        ``lock=None`` (or False) is for a connection of a process whose parent already holds
        the lock (the replay's writer process).
        """
        self.path = Path(path)
        self.readonly = readonly
        self._lock: StoreLock | None = None
        self._rendered: dict[str, str] = {}
        if lock is True:
            lock = "exclusive"
        # Refused before any file is made beside the path (the locks are files beside it);
        # looked at again under the lock, where it is created or migrated if it may be.
        _refuse_incomplete(self.path)
        settle(sqlite_state(self.path), "use" if readonly else schema)
        # Server processes queue for writing on a kernel lock: SQLite's own busy handler sleeps
        # in growing steps (up to 100 ms) while another process writes, which measured a p99 of
        # 1.3 s with two server processes; a blocked flock wakes the moment the lock is free.
        self._queue_file: IO[str] | None = None
        if lock == "shared" and not readonly:
            self._queue_file = open(  # noqa: SIM115 - held while the store is open
                self.path.with_name(self.path.name + ".write.lock"), "a+"
            )
        try:
            self._open(durable, lock, lock_wait_seconds, schema)
            self._conn.execute("PRAGMA cache_size=-65536")  # 64 MiB
            self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            if not readonly:
                # A WAL checkpoint syncs the database; every 40 MiB rather than SQLite's 4 MiB.
                self._conn.execute("PRAGMA wal_autocheckpoint=10000")
        except BaseException as exc:
            conn = getattr(self, "_conn", None)
            if conn is not None:
                conn.close()
            self._release()
            if isinstance(exc, sqlite3.DatabaseError):
                raise unavailable(exc) from exc
            raise

    def _open(
        self, durable: bool, lock: LockMode | bool, lock_wait_seconds: float, schema: SchemaMode
    ) -> None:
        if self.readonly:
            self._conn = sqlite3.connect(
                read_only_uri(self.path),
                uri=True,
                isolation_level=None,
                check_same_thread=False,
            )
            marker = restore_marker(self._conn)
            if marker is not None:
                raise StoreError(incomplete_store(str(self.path), marker))
            return
        if lock:
            self._lock = store_lock(self.path, lock_wait_seconds, shared=lock == "shared")
        ensure_schema(self.path, schema)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")

    @property
    def location(self) -> str:
        return str(self.path)

    def limit_cache(self, mebibytes: int) -> None:
        self._conn.execute(f"PRAGMA cache_size=-{int(mebibytes) * 1024}")
        self._conn.execute("PRAGMA shrink_memory")

    def close(self) -> None:
        self._conn.close()
        self._release()

    def _release(self) -> None:
        """Let go of the locks (at close, or when opening failed)."""
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
                self._rollback()
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                self._rollback()
                raise StoreUnavailableError(f"the commit failed: {exc}") from exc

    def _rollback(self) -> None:
        """Roll back the transaction open, if SQLite has not already (it does itself after a
        full disk or an I/O error)."""
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")

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

    def writes_seen(self) -> int:
        """SQLite's ``data_version``: it changes when another connection commits."""
        return int(self.scalar("PRAGMA data_version"))

    def give_back_space(self) -> int:
        """Return free pages to the file system (``PRAGMA incremental_vacuum``), outside any
        transaction; how many pages were free before (0 when the store does not use
        incremental auto-vacuum: see ``_incremental_vacuum_when_new``)."""
        if self.in_transaction or self._conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
            return 0
        free = int(self._conn.execute("PRAGMA freelist_count").fetchone()[0])
        left = free
        pace = Pace(
            FIRST_VACUUM_PAGES, LEAST_VACUUM_PAGES, MOST_VACUUM_PAGES, None, self.writes_seen
        )
        while left > 0:
            # A step of pages a write, sized by time (store.pacing); a statement steps a page at
            # a time: executescript runs it to the end, where execute would stop after the first.
            with pace.step(), self._write_turn():
                self._conn.executescript(f"PRAGMA incremental_vacuum({int(pace.size)});")
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
        try:
            return self._conn.execute(self._render(sql), params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise unavailable(exc) from exc

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        try:
            yield from self._conn.execute(self._render(sql), params)
        except sqlite3.DatabaseError as exc:
            raise unavailable(exc) from exc

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            return self._conn.execute(self._render(sql), params).rowcount
        except sqlite3.DatabaseError as exc:
            raise unavailable(exc) from exc

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self._conn.executemany(self._render(sql), rows)
        except sqlite3.DatabaseError as exc:
            raise unavailable(exc) from exc


# SQLite's primary result codes of a database that cannot be used now but may be later (busy,
# locked, out of memory, read-only, an I/O error, a full disk, a file that cannot be opened):
# spec §17, a store that cannot write answers 503 and is tried again.
_TRANSIENT_CODES = frozenset({5, 6, 7, 8, 10, 13, 14})


def unavailable(exc: sqlite3.DatabaseError) -> Exception:
    """``StoreUnavailableError`` for a database that cannot write now (disk full, read-only,
    lost, busy); the error itself for anything else (a bug must not pass for an outage)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in _TRANSIENT_CODES:
        return StoreUnavailableError(f"the database failed: {exc}")
    return exc


class SqliteOptions(TypedDict, total=False):
    """``SqliteDatabase``'s options (see there)."""

    readonly: bool
    durable: bool
    lock: LockMode | bool
    lock_wait_seconds: float
    busy_timeout_ms: int
    schema: SchemaMode


class SqliteStore(Store):
    """The store on one SQLite file; the options are ``SqliteDatabase``'s."""

    def __init__(self, path: str | os.PathLike[str], **options: Unpack[SqliteOptions]) -> None:
        self.db: SqliteDatabase = SqliteDatabase(path, **options)
        super().__init__(self.db)

    @property
    def path(self) -> Path:
        return self.db.path
