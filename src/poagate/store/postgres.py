"""The store on PostgreSQL (psycopg 3), for several server processes sharing one database.

Every write transaction first takes one transaction-scoped advisory lock, so writers are
serialised across processes exactly as SQLite serialises them: a decision sees every decision
committed before it, and AD1 outcomes are numbered in commit order. With many messages per
transaction (the service commits concurrent requests together) this costs little.

A connection that fails raises ``StoreUnavailableError``: the transaction was rolled back and
nothing of it was written, so the caller may answer 503 and the client retry. A value the
database refuses (a NUL character in text: psycopg's ``DataError``) raises ``StoreValueError``:
nothing was written either, and the caller answers that the input was wrong, never a 500.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.array import ListBinaryDumper

from poagate.store import StoreError, StoreRefusedError, StoreUnavailableError, StoreValueError
from poagate.store.schema import MIN_COMPATIBLE_KEY, RESTORE_MARKER_KEY, incomplete_store
from poagate.store.schema_state import SchemaMode, StoreState, classify, settle
from poagate.store.sqlbase import Database, Dialect, Insert, render_lists
from poagate.store.store import Store

# The tables a maintenance pass deletes from by age (the kinds of store.lifecycle), vacuumed
# after it (``give_back_space``).
PURGED_TABLES = (
    "ad1_outcomes",
    "ad1_duplicates",
    "activations",
    "activation_outcomes",
    "device_messages",
    "outbox",
    "verifications",
    "ignored_inputs",
    "rejected_inputs",
    "audit_log",
)
# The advisory lock every writer takes: an arbitrary constant ("poagate" in ASCII).
WRITER_LOCK_KEY = 0x706F6167617465
_PLACEHOLDER = re.compile(r"\?")
_CURSOR_ROWS = 10_000
IDLE_CHECK_SECONDS = 1.0

# How long a connection waits on a database that does not answer (spec §16). A network
# partition drops packets without a reset or a refusal: without these a query sent across one
# waited for TCP to give up (a quarter of an hour), its request unanswered, and the server never
# said it was not ready. With them the connection fails after about ten seconds of silence, the
# request is answered 503 and the next one connects again. The session options tell the
# database's end the same, so that the backend of a server cut off mid-transaction ends within
# seconds and releases the writers' lock (else every other server waited for it, for hours).
# And every statement is planned for the values it is sent with (plan_cache_mode): psycopg
# prepares a statement after five uses, and PostgreSQL then kept a generic plan made while a
# table was empty — for the R6 lookup, a sequential scan comparing each row with each alert_id of
# a group — long after the table had grown (tests/integration/test_pg_plans.py).
# A URL that names a parameter keeps its own value.
CONNECTION_DEFAULTS: dict[str, str] = {
    "connect_timeout": "5",  # each host of a multi-host URL in turn
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
    "tcp_user_timeout": "10000",  # milliseconds: data sent and not acknowledged
}
SESSION_OPTIONS = (
    "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3 "
    "-c tcp_user_timeout=10000 -c plan_cache_mode=force_custom_plan"
)


# libpq's keyword form (``host=db password=secret``) and a URL's query (``?password=secret``)
# carry a password as well as a URL's user information does.
_KEYWORD_PASSWORD = re.compile(r"\b((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)", re.I)
_QUERY_PASSWORD = re.compile(r"((?:^|[&;])(?:ssl)?password=)[^&;#]*", re.I)


def redact(url: str) -> str:
    """The database URL (or libpq keyword string) without any password, to print or log:
    the user information's, ``?password=`` (and ``sslpassword``) in the query, and
    ``password=`` in libpq's keyword form are each shown as ``***``."""
    if "://" not in url:
        return _KEYWORD_PASSWORD.sub(r"\1***", url)
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL after all: nothing of it is shown
        return "(a database URL that cannot be read)"
    netloc = parts.netloc
    if password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:***@{host}"
    query = _QUERY_PASSWORD.sub(r"\1***", parts.query)
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def libpq_url(url: str) -> str:
    """A URL psycopg accepts (``postgresql+psycopg://`` is SQLAlchemy's spelling)."""
    return re.sub(r"^postgres(ql)?(\+psycopg)?://", "postgresql://", url)


def restore_marker(conn: psycopg.Connection[tuple[Any, ...]]) -> str | None:
    """The restore marker (``schema.RESTORE_MARKER_KEY``) when a restore into this database has
    not finished; None otherwise (on an autocommit connection)."""
    try:
        row = conn.execute(
            "SELECT value FROM meta WHERE key = %s", (RESTORE_MARKER_KEY,)
        ).fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    return None if row is None else str(row[0])


def refuse_incomplete(conn: psycopg.Connection[tuple[Any, ...]], url: str) -> None:
    marker = restore_marker(conn)
    if marker is not None:
        raise StoreError(incomplete_store(redact(url), marker))


def connection_parameters(url: str) -> dict[str, str]:
    """What ``psycopg.connect`` is given beside the URL: ``CONNECTION_DEFAULTS`` and
    ``SESSION_OPTIONS`` for what the URL does not set (its own ``options`` come after ours, so
    theirs win)."""
    given = conninfo_to_dict(libpq_url(url))
    parameters = {k: v for k, v in CONNECTION_DEFAULTS.items() if k not in given}
    options = str(given.get("options") or "")
    parameters["options"] = f"{SESSION_OPTIONS} {options}".strip()
    return parameters


def connect(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    """An autocommit connection to ``url`` with ``connection_parameters``.

    Its lists (``list_param``: a group's alert_ids, hubs, devices) are sent as binary arrays:
    psycopg writes a list of 1,000 strings as a text array in about 790 µs of Python (each
    element quoted and escaped) and as a binary one in 175 µs, and a group of the decision
    path sends several, while it holds the writers' lock (docs/performance.md)."""
    conn = psycopg.connect(
        make_conninfo(libpq_url(url), **connection_parameters(url)), autocommit=True
    )
    conn.adapters.register_dumper(list, ListBinaryDumper)
    return conn


def postgres_state(url: str) -> StoreState:
    """What the database at ``url`` holds (``schema_state``), read without changing it."""
    shown = redact(url)
    try:
        with connect(url) as conn:
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


def ensure_schema(url: str, mode: SchemaMode = "use", restoring: bool = False) -> None:
    """Check the database at ``url`` for a command in ``mode`` (``schema_state``): use it as it
    is, create the schema at the head, or migrate it; anything else is ``StoreRefusedError``. A
    database a restore has not finished is refused, except by that restore (``restoring``)."""
    state = postgres_state(url)
    if not restoring and state.kind != "empty":
        with connect(url) as conn:
            refuse_incomplete(conn, url)
    if settle(state, mode) == "open":
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
            return connect(self.url)
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

    def size_bytes(self) -> int:
        """The tables and indexes of poagate's schema, in bytes (not the server's other
        databases, nor its write-ahead log)."""
        return int(
            self.scalar(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm')"
            )
        )

    def writes_seen(self) -> int:
        """The next transaction id: every writing transaction takes one (this connection's
        own too, so a pass reads it after its step's commit and again after its rest)."""
        return int(self.scalar("SELECT pg_snapshot_xmax(pg_current_snapshot())::text"))

    def give_back_space(self) -> int:
        """Make the space of the rows a maintenance pass deleted reusable now (``VACUUM
        (ANALYZE)`` of the tables it purges, outside any transaction), rather than when
        autovacuum next finds a fifth of a table dead: a pass deletes less than that of a table
        kept for months, so without this the tables grew a pass at a time (measured:
        benchmarks/lifecycle_year.py). Paced as autovacuum paces itself
        (``vacuum_cost_delay``), so that its reads and writes leave the disk to decisions; it
        never blocks a writer. The files do not shrink: the space is reused by new rows."""
        if self.in_transaction:
            return 0
        conn = self._live()
        conn.execute("SET vacuum_cost_delay = '2ms'")
        try:
            for table in PURGED_TABLES:
                conn.execute(f"VACUUM (ANALYZE) {table}")
        finally:
            conn.execute("RESET vacuum_cost_delay")
        return 0

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
        except psycopg.DataError as exc:
            raise _refused(exc) from exc
        except psycopg.OperationalError as exc:
            if self.in_transaction or not self._conn.broken:
                raise StoreUnavailableError(f"the database failed: {exc}") from exc
        # A read outside a transaction on a connection that had gone: once more, reconnected.
        try:
            return self._live().execute(self._render(sql), params).fetchall()
        except psycopg.DataError as exc:
            raise _refused(exc) from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"the database failed: {exc}") from exc

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        # A server-side cursor: a large read comes in pieces, not all at once.
        with self._live().cursor(name="poagate_stream", withhold=True) as cursor:
            cursor.itersize = _CURSOR_ROWS
            try:
                cursor.execute(self._render(sql), params)
            except psycopg.DataError as exc:
                raise _refused(exc) from exc
            yield from cursor

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            return self._live().execute(self._render(sql), params).rowcount
        except psycopg.DataError as exc:
            raise _refused(exc) from exc
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
        except psycopg.DataError as exc:
            raise _refused(exc) from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"the database failed: {exc}") from exc

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            with self._live().cursor() as cursor:
                cursor.executemany(self._render(sql), rows)
        except psycopg.DataError as exc:
            raise _refused(exc) from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"the database failed: {exc}") from exc


def _refused(exc: psycopg.DataError) -> StoreValueError:
    """What the caller learns of a value PostgreSQL refused: the kind, never the value."""
    return StoreValueError(f"the database cannot hold a value of this input: {exc}")


class PostgresStore(Store):
    """The store on a PostgreSQL database; ``schema`` says whether it may be created or
    migrated (``schema_state``)."""

    def __init__(self, url: str, *, schema: SchemaMode = "use") -> None:
        self.db: PostgresDatabase = PostgresDatabase(url, schema=schema)
        super().__init__(self.db)
