"""The store on PostgreSQL (psycopg 3), for several server processes sharing one database.

Every write transaction first takes one transaction-scoped advisory lock, so writers are
serialised across processes exactly as SQLite serialises them: a decision sees every decision
committed before it, and AD1 outcomes are numbered in commit order. With many messages per
transaction (the service commits concurrent requests together) this costs little.

A connection that fails raises ``StoreUnavailableError``: the transaction was rolled back and
nothing of it was written, so the caller may answer 503 and the client retry.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from poagate.store import StoreRefusedError, StoreUnavailableError
from poagate.store.schema import MIN_COMPATIBLE_KEY
from poagate.store.schema_state import SchemaMode, StoreState, classify, settle
from poagate.store.sqlbase import Database, Dialect, Insert, render_lists
from poagate.store.store import Store

# The advisory lock every writer takes: an arbitrary constant ("poagate" in ASCII).
WRITER_LOCK_KEY = 0x706F6167617465
_PLACEHOLDER = re.compile(r"\?")
_CURSOR_ROWS = 10_000
IDLE_CHECK_SECONDS = 1.0


def redact(url: str) -> str:
    """The URL without its password, to print or log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def libpq_url(url: str) -> str:
    """A URL psycopg accepts (``postgresql+psycopg://`` is SQLAlchemy's spelling)."""
    return re.sub(r"^postgres(ql)?(\+psycopg)?://", "postgresql://", url)


def postgres_state(url: str) -> StoreState:
    """What the database at ``url`` holds (``schema_state``), read without changing it."""
    shown = redact(url)
    try:
        with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=5) as conn:
            tables = {
                str(row[0])
                for row in conn.execute(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = current_schema()"
                )
            }
            revision = min_compatible = None
            if {"alembic_version", "meta"} <= tables:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = None if row is None else str(row[0])
                row = conn.execute(
                    "SELECT value FROM meta WHERE key = %s", (MIN_COMPATIBLE_KEY,)
                ).fetchone()
                min_compatible = None if row is None else str(row[0])
    except psycopg.OperationalError as exc:
        if "does not exist" in str(exc):  # the database itself: poagate never creates one
            raise StoreRefusedError(
                f"{shown}: the database does not exist; create it (createdb), then run "
                f"`poagate db init --database {shown}`"
            ) from None
        raise StoreUnavailableError(f"cannot reach {shown}: {exc}") from exc
    kind = classify(tables, revision, min_compatible)
    why = "a PostgreSQL database holding other tables" if kind == "foreign" else ""
    return StoreState(kind, shown, revision, min_compatible, why)


def ensure_schema(url: str, mode: SchemaMode = "use") -> None:
    """Check the database at ``url`` for a command in ``mode`` (``schema_state``): use it as it
    is, create the schema at the head, or migrate it; anything else is ``StoreRefusedError``."""
    if settle(postgres_state(url), mode) == "open":
        return
    from poagate.store.migrate import upgrade

    upgrade(libpq_url(url).replace("postgresql://", "postgresql+psycopg://", 1))


class PostgresDatabase(Database):
    """A PostgreSQL database (see the module docstring)."""

    dialect: Dialect = "postgresql"

    def __init__(self, url: str, *, schema: SchemaMode = "use") -> None:
        self.url = url
        self._rendered: dict[str, str] = {}
        self._used = time.monotonic()
        try:
            ensure_schema(url, schema)
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"cannot reach {redact(url)}: {exc}") from exc
        self._conn = self._connect()

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        try:
            return psycopg.connect(libpq_url(self.url), autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"cannot reach {redact(self.url)}: {exc}") from exc

    def _live(self) -> psycopg.Connection[tuple[Any, ...]]:
        """The connection, opened again if the server dropped it (a restart, a network cut)."""
        if self._conn.broken or self._conn.closed:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = self._connect()
        return self._conn

    @property
    def location(self) -> str:
        return redact(self.url)

    def close(self) -> None:
        self._conn.close()

    @contextlib.contextmanager
    def _outermost(self) -> Iterator[None]:
        conn = self._begin()
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK_KEY,))
                yield
        except (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction) as exc:
            # Unreachable, a full disk (class 53), or a server that has become a standby.
            raise StoreUnavailableError(f"the database failed: {exc}") from exc

    def _begin(self) -> psycopg.Connection[tuple[Any, ...]]:
        """A connection that answers. One idle through a server restart learns it only when
        used, so one idle for a while is checked before a transaction starts, and opened again
        if it has gone (a busy connection is not: the check would cost a round trip each time).
        """
        conn = self._live()
        if time.monotonic() - self._used > IDLE_CHECK_SECONDS:
            try:
                conn.execute("SELECT 1")
            except psycopg.OperationalError:
                conn = self._live()  # broken now: opened again (or unavailable)
        self._used = time.monotonic()
        return conn

    def _render(self, sql: str) -> str:
        rendered = self._rendered.get(sql)
        if rendered is None:
            rendered = _PLACEHOLDER.sub("%s", render_lists(sql, "{column} = ANY(?)"))
            self._rendered[sql] = rendered
        return rendered

    def list_param(self, values: Sequence[Any]) -> Any:
        return list(values)

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._live().execute(self._render(sql), params).fetchall()
        except psycopg.OperationalError as exc:
            if self.in_transaction or not self._conn.broken:
                raise StoreUnavailableError(f"the database failed: {exc}") from exc
        # A read outside a transaction on a connection that had gone: once more, reconnected.
        try:
            return self._live().execute(self._render(sql), params).fetchall()
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"the database failed: {exc}") from exc

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        # A server-side cursor: a large read comes in pieces, not all at once.
        with self._live().cursor(name="poagate_stream", withhold=True) as cursor:
            cursor.itersize = _CURSOR_ROWS
            cursor.execute(self._render(sql), params)
            yield from cursor

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            self._live().execute(self._render(sql), params)
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"the database failed: {exc}") from exc

    def insert(self, insert: Insert, rows: Sequence[Sequence[Any]]) -> None:
        """COPY: PostgreSQL's bulk path, many times faster than a statement a row."""
        if not rows:
            return
        nulls = insert.nulls
        statement = f"COPY {insert.table} ({','.join(insert.columns)}) FROM STDIN"
        try:
            with self._live().cursor() as cursor, cursor.copy(statement) as copy:
                if not nulls:
                    for row in rows:
                        copy.write_row(row)
                    return
                for row in rows:
                    values = list(row)
                    for position, sentinel in nulls:
                        if values[position] == sentinel:
                            values[position] = None
                    copy.write_row(values)
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"the database failed: {exc}") from exc

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            with self._live().cursor() as cursor:
                cursor.executemany(self._render(sql), rows)
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"the database failed: {exc}") from exc


class PostgresStore(Store):
    """The store on a PostgreSQL database; ``schema`` says whether it may be created or
    migrated (``schema_state``)."""

    def __init__(self, url: str, *, schema: SchemaMode = "use") -> None:
        self.db: PostgresDatabase = PostgresDatabase(url, schema=schema)
        super().__init__(self.db)
