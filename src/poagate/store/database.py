"""Opening a store from the ``--database`` a user gives: a URL or a file path.

``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or a plain path open the embedded
SQLite store; ``postgresql://user@host:port/db`` opens PostgreSQL. Without one, poagate uses
``$POAGATE_DATABASE``, else ``poagate.db`` in the current directory (the file ``make demo``
fills).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from poagate.store import StoreError
from poagate.store.schema_state import SchemaMode, StoreState, sqlite_state
from poagate.store.store import Store

DEFAULT_DATABASE = "sqlite:///poagate.db"
Purpose = Literal["replay", "service", "read"]


def default_database() -> str:
    return os.environ.get("POAGATE_DATABASE") or DEFAULT_DATABASE


def is_postgres(database: str) -> bool:
    return database.startswith(("postgresql://", "postgres://", "postgresql+psycopg://"))


def sqlite_path(database: str) -> Path:
    """The file of a ``sqlite:///…`` URL or a plain path."""
    if database.startswith("sqlite:///"):
        return Path(database.removeprefix("sqlite:///"))
    if "://" in database:
        from poagate.store.postgres import redact  # a password in it is not printed either

        raise StoreError(
            f"{redact(database)!r} is neither a file path, a sqlite:/// URL nor a postgresql:// URL"
        )
    return Path(database)


def open_store(
    database: str | None = None,
    purpose: Purpose = "service",
    busy_timeout_ms: int = 10_000,
    *,
    schema: SchemaMode = "use",
) -> Store:
    """Open the store for a replay (the only writer), the service (one of several writers,
    each commit durable before it is answered) or reading. ``busy_timeout_ms`` is how long a
    SQLite write waits for another writer before giving up (then: unavailable).

    The store must exist at this code's schema revision: ``schema="create"`` (``poagate db
    init``, a replay's or a simulation's own store) may create it, ``schema="upgrade"``
    (``poagate db upgrade``) may migrate it; anything else raises ``StoreRefusedError`` saying
    what to run (``store.schema_state``). A store opened for reading is never changed."""
    database = database or default_database()
    if purpose == "read":
        schema = "use"
    if is_postgres(database):
        from poagate.store.postgres import PostgresStore

        return PostgresStore(database, schema=schema)
    from poagate.store.sqlite import SqliteStore

    path = sqlite_path(database)
    if purpose == "read":
        return SqliteStore(path, readonly=True, busy_timeout_ms=busy_timeout_ms)
    if purpose == "service":
        return SqliteStore(
            path, durable=True, lock="shared", busy_timeout_ms=busy_timeout_ms, schema=schema
        )
    return SqliteStore(path, busy_timeout_ms=busy_timeout_ms, schema=schema)


def store_state(database: str | None = None) -> StoreState:
    """What is at ``database`` (``poagate db status``), looked at without changing anything."""
    database = database or default_database()
    if is_postgres(database):
        from poagate.store.postgres import postgres_state

        return postgres_state(database)
    return sqlite_state(sqlite_path(database))
