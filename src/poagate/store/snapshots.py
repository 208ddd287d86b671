"""A whole store as one file and back (spec §15, ``service.backup``): the backends' own tools.

* **SQLite**: SQLite's online backup API copies the database in one step inside one read
  transaction, so the copy is the store as it was at one commit while server processes keep
  writing (WAL: they do not wait for it). The copy is a plain SQLite file (no WAL beside it).
* **PostgreSQL**: ``pg_dump`` in its custom format, of the schema poagate's tables are in, from
  Debian's client of the server's major version (``/usr/lib/postgresql/N/bin``). The row counts
  are read in the snapshot the dump is taken in (``pg_export_snapshot``), so they are the
  dump's own.

A restore writes its target in steps (``Target``): ``mark`` creates the target deliberately
(a SQLite file, or poagate's tables dropped from a PostgreSQL database) with nothing in it but
the restore marker (``schema.RESTORE_MARKER_KEY``) in ``meta``; ``load`` puts the backup in,
keeping the marker; ``upgrade`` brings an older schema up to date; ``clear`` removes the marker.
A store with the marker is refused by every poagate process, so a restore stopped at any point
leaves a store that says it is incomplete, never one that serves half a backup.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import psycopg

from poagate.store import StoreError
from poagate.store.database import is_postgres, sqlite_path
from poagate.store.marks import ACTIVATIONS_FUNCTION
from poagate.store.postgres import ensure_schema as ensure_postgres
from poagate.store.postgres import libpq_url, redact
from poagate.store.postgres import restore_marker as postgres_marker
from poagate.store.schema import RESTORE_MARKER_KEY, incomplete_store, metadata
from poagate.store.sqlite import ensure_schema as ensure_sqlite
from poagate.store.sqlite import restore_marker as sqlite_marker
from poagate.store.sqlite import store_lock

SQLITE_PAYLOAD = "database.sqlite"
POSTGRES_PAYLOAD = "database.pgdump"
# What the store's tables are, for emptiness and for clearing a target: the schema's, and
# Alembic's record of the revision.
POAGATE_TABLES = (*sorted(metadata.tables), "alembic_version")
# What "holds data" means to a restore: rows in a table but ``meta``, which a migration writes
# into a store that holds nothing (its oldest compatible revision, ``schema.MIN_COMPATIBLE_KEY``).
_DATA_TABLES = frozenset(metadata.tables) - {"meta"}
# The entries of a dump's table of contents (``pg_restore --list``) a restore leaves out: the
# schema itself (the target's exists) and the ``meta`` table's definition and key (``mark``
# made them, holding the marker); ``meta``'s rows are restored into it.
_MADE_BY_MARK = re.compile(
    r"^\d+; \d+ \d+ "
    r"(?:SCHEMA - |COMMENT - SCHEMA |(?:TABLE|CONSTRAINT) \S+ meta (?:meta_pkey )?\S+$)"
)
_META_DDL = "CREATE TABLE meta (key VARCHAR(64) NOT NULL PRIMARY KEY, value TEXT NOT NULL)"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A consistent copy of a store in one file, and what it holds."""

    backend: str  # sqlite or postgresql
    payload: Path
    schema_revision: str
    tables: dict[str, int]  # rows per table
    details: dict[str, str]  # the tools and server versions, for the manifest


class Target(Protocol):
    """A store a restore writes (see the module docstring)."""

    backend: str
    payload_name: str

    def marker(self) -> str | None: ...
    def has_rows(self) -> bool: ...
    def mark(self, note: str) -> None: ...
    def load(self, payload: Path) -> None: ...
    def counts(self) -> dict[str, int]: ...
    def upgrade(self) -> None: ...
    def clear(self) -> None: ...


def snapshot(database: str, folder: Path) -> Snapshot:
    """A consistent copy of the store at ``database`` in ``folder`` (see the module docstring)."""
    if is_postgres(database):
        return _postgres_snapshot(database, folder)
    return _sqlite_snapshot(sqlite_path(database), folder)


@contextlib.contextmanager
def target(database: str) -> Iterator[Target]:
    """The store at ``database`` as a restore's target; a SQLite file is held alone (no server,
    replay or command may have it open) until the block ends."""
    if is_postgres(database):
        yield PostgresTarget(database)
        return
    path = sqlite_path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = store_lock(path, wait_seconds=5.0)
    try:
        yield SqliteTarget(path)
    finally:
        lock.release()


# -- SQLite ---------------------------------------------------------------------------------------


def _sqlite_counts(conn: sqlite3.Connection) -> dict[str, int]:
    names = [
        str(row[0])
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    counts = {}
    for name in names:
        where = f" WHERE key <> '{RESTORE_MARKER_KEY}'" if name == "meta" else ""
        counts[name] = int(conn.execute(f'SELECT COUNT(*) FROM "{name}"{where}').fetchone()[0])
    return counts


def _sqlite_snapshot(path: Path, folder: Path) -> Snapshot:
    if not path.is_file():
        raise StoreError(f"no database at {path}")
    copy = folder / SQLITE_PAYLOAD
    with (
        contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as source,
        contextlib.closing(sqlite3.connect(copy)) as dest,
    ):
        marker = sqlite_marker(source)
        if marker is not None:
            raise StoreError(incomplete_store(str(path), marker))
        source.backup(dest)  # one step: one read transaction, one commit's state
        dest.execute("PRAGMA journal_mode=DELETE")  # the copy is one file
        revision = dest.execute("SELECT version_num FROM alembic_version").fetchone()
        if revision is None:
            raise StoreError(f"{path} is not a poagate database (no schema revision)")
        counts = _sqlite_counts(dest)
    return Snapshot(
        "sqlite", copy, str(revision[0]), counts, {"sqlite_version": sqlite3.sqlite_version}
    )


class SqliteTarget:
    """A SQLite file a restore writes (held alone: ``target``)."""

    backend = "sqlite"
    payload_name = SQLITE_PAYLOAD

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> contextlib.closing[sqlite3.Connection]:
        return contextlib.closing(sqlite3.connect(self.path, isolation_level=None))

    def marker(self) -> str | None:
        if not self.path.exists():
            return None
        with self._connect() as conn:
            return sqlite_marker(conn)

    def has_rows(self) -> bool:
        if not self.path.exists():
            return False
        with self._connect() as conn:
            return any(rows for name, rows in _sqlite_counts(conn).items() if name in _DATA_TABLES)

    def mark(self, note: str) -> None:
        """The target made deliberately: an empty file with the marker alone (WAL and its
        index removed first: the file is replaced, so nothing of the old one may be replayed)."""
        for leftover in (self.path, *_sqlite_sidecars(self.path)):
            leftover.unlink(missing_ok=True)
        with self._connect() as conn:
            conn.execute(_META_DDL)
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (RESTORE_MARKER_KEY, note))
        _fsync(self.path)

    def load(self, payload: Path) -> None:
        """The backup copied into the target in one step, with the marker set in it first."""
        note = self.marker()
        assert note is not None, "load follows mark"
        staged = self.path.with_name(self.path.name + ".restoring")
        shutil.copyfile(payload, staged)
        try:
            with contextlib.closing(sqlite3.connect(staged, isolation_level=None)) as source:
                source.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (RESTORE_MARKER_KEY, note),
                )
                with self._connect() as dest:
                    source.backup(dest)
        finally:
            staged.unlink(missing_ok=True)
        _fsync(self.path)

    def counts(self) -> dict[str, int]:
        with self._connect() as conn:
            return _sqlite_counts(conn)

    def upgrade(self) -> None:
        ensure_sqlite(self.path, "upgrade", restoring=True)

    def clear(self) -> None:
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")  # as the store runs
            conn.execute("DELETE FROM meta WHERE key = ?", (RESTORE_MARKER_KEY,))
        _fsync(self.path)


def _sqlite_sidecars(path: Path) -> tuple[Path, ...]:
    return tuple(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- PostgreSQL -----------------------------------------------------------------------------------


def postgres_tool(name: str, server_major: int) -> Path:
    """Debian's ``pg_dump`` or ``pg_restore`` for a server of ``server_major``: that version's,
    else the oldest newer one installed (a newer client reads an older server's data)."""
    root = Path(os.environ.get("POAGATE_POSTGRES_CLIENTS", "/usr/lib/postgresql"))
    installed = sorted(
        int(p.name) for p in root.glob("*") if p.name.isdigit() and (p / "bin" / name).exists()
    )
    for major in installed:
        if major >= server_major:
            return root / str(major) / "bin" / name
    raise StoreError(
        f"{name} for PostgreSQL {server_major} is not installed: install Debian's package "
        f"postgresql-client-{server_major}"
    )


def _client_env(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and an environment that gives the password to libpq."""
    url = libpq_url(url)
    parts = urlsplit(url)
    env = dict(os.environ)
    if parts.password is None:
        return url, env
    env["PGPASSWORD"] = parts.password
    netloc = parts.netloc.replace(f":{parts.password}@", "@")
    return urlunsplit(parts._replace(netloc=netloc)), env


def _run_tool(command: list[str], env: dict[str, str], what: str) -> str:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StoreError(f"{what} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def _postgres_counts(conn: psycopg.Connection[tuple[Any, ...]], schema: str) -> dict[str, int]:
    names = [
        str(row[0])
        for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "AND table_type = 'BASE TABLE' ORDER BY table_name",
            (schema,),
        )
    ]
    counts = {}
    for name in names:
        where = f" WHERE key <> '{RESTORE_MARKER_KEY}'" if name == "meta" else ""
        row = conn.execute(f'SELECT COUNT(*) FROM "{schema}"."{name}"{where}').fetchone()
        counts[name] = int(row[0]) if row else 0
    return counts


def _server_major(conn: psycopg.Connection[tuple[Any, ...]]) -> int:
    row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None
    return int(row[0]) // 10_000


def _postgres_snapshot(url: str, folder: Path) -> Snapshot:
    dump = folder / POSTGRES_PAYLOAD
    with psycopg.connect(libpq_url(url)) as conn:
        marker = postgres_marker(conn)
        conn.rollback()
        if marker is not None:
            raise StoreError(incomplete_store(redact(url), marker))
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        row = conn.execute("SELECT pg_export_snapshot(), current_schema()").fetchone()
        assert row is not None
        exported, schema = str(row[0]), str(row[1])
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        if revision is None:
            raise StoreError(f"{redact(url)} is not a poagate database (no schema revision)")
        counts = _postgres_counts(conn, schema)
        major = _server_major(conn)
        pg_dump = postgres_tool("pg_dump", major)
        plain, env = _client_env(url)
        # The dump sees the exported snapshot, so it holds what was counted; the transaction
        # that exported it stays open until the dump ends.
        _run_tool(
            [
                str(pg_dump),
                f"--dbname={plain}",
                "--format=custom",
                f"--schema={schema}",
                f"--snapshot={exported}",
                "--no-owner",
                "--no-privileges",
                f"--file={dump}",
            ],
            env,
            "pg_dump",
        )
        conn.rollback()
    return Snapshot(
        "postgresql",
        dump,
        str(revision[0]),
        counts,
        {"postgres_server": str(major), "pg_dump": str(pg_dump)},
    )


class PostgresTarget:
    """A PostgreSQL database a restore writes (it must exist; poagate's tables in it are
    replaced)."""

    backend = "postgresql"
    payload_name = POSTGRES_PAYLOAD

    def __init__(self, url: str) -> None:
        self.url = url

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        try:
            return psycopg.connect(libpq_url(self.url), autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise StoreError(f"cannot reach {redact(self.url)}: {exc}") from exc

    def _schema(self, conn: psycopg.Connection[tuple[Any, ...]]) -> str:
        row = conn.execute("SELECT current_schema()").fetchone()
        assert row is not None
        return str(row[0])

    def marker(self) -> str | None:
        with self._connect() as conn:
            return postgres_marker(conn)

    def has_rows(self) -> bool:
        with self._connect() as conn:
            counts = _postgres_counts(conn, self._schema(conn))
        return any(rows for name, rows in counts.items() if name in _DATA_TABLES)

    def mark(self, note: str) -> None:
        """In one transaction: poagate's tables dropped, and ``meta`` with the marker alone."""
        with self._connect() as conn, conn.transaction():
            for name in POAGATE_TABLES:
                conn.execute(f'DROP TABLE IF EXISTS "{name}" CASCADE')
            # and its functions (the backup's schema brings them back)
            conn.execute(f"DROP FUNCTION IF EXISTS {ACTIVATIONS_FUNCTION}() CASCADE")
            conn.execute(_META_DDL)
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s)", (RESTORE_MARKER_KEY, note)
            )

    def load(self, payload: Path) -> None:
        """``pg_restore`` in one transaction, all but the ``meta`` table's definition (``mark``
        made it, with the marker): a restore killed here leaves the marker alone."""
        with self._connect() as conn:
            major = _server_major(conn)
        pg_restore = postgres_tool("pg_restore", major)
        plain, env = _client_env(self.url)
        listing = _run_tool([str(pg_restore), "--list", str(payload)], env, "pg_restore --list")
        kept = [line for line in listing.splitlines() if not _MADE_BY_MARK.match(line)]
        entries = payload.with_name(payload.name + ".list")
        entries.write_text("\n".join(kept) + "\n")
        _run_tool(
            [
                str(pg_restore),
                f"--dbname={plain}",
                "--single-transaction",
                "--exit-on-error",
                "--no-owner",
                "--no-privileges",
                f"--use-list={entries}",
                str(payload),
            ],
            env,
            "pg_restore",
        )

    def counts(self) -> dict[str, int]:
        with self._connect() as conn:
            return _postgres_counts(conn, self._schema(conn))

    def upgrade(self) -> None:
        ensure_postgres(self.url, "upgrade", restoring=True)

    def clear(self) -> None:
        with self._connect() as conn:
            conn.execute("DELETE FROM meta WHERE key = %s", (RESTORE_MARKER_KEY,))
