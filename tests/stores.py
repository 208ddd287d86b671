"""Template stores: migrated (and seeded) once a session, copied for each test.

Running every Alembic migration on a new SQLite file takes most of a second, and uploading the
API harness's fleet over HTTP about as long again; every API and console test did both. A test
now gets a copy of a template made once per session (per pytest-xdist worker): a file copy on
SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL (tests/pg.py).

The seeded template is made by the code path the tests used before: the application's own
upload of the fleet and the GUID list (``load_fleet``), at the harness clock's start, so a copy
holds what a test's own upload held (the versions, their audit entries, the admin's token).
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from pathlib import Path

import psycopg

from poagate.store.database import open_store
from tests.api_harness import Clock, load_fleet, make_api
from tests.pg import TEMPLATE, PostgresServer

SEEDED = "poagate_seeded"  # the PostgreSQL template with the fleet in it


def seed(database: str) -> None:
    """The API harness's fleet into the (migrated) store at ``database``, uploaded through the
    application on the harness clock's start."""
    for api in make_api(database, Clock()):
        load_fleet(api)


def sqlite_template(path: Path, seeded: bool) -> Path:
    """A migrated SQLite store at ``path`` (and seeded with the fleet), whole in its one file:
    checkpointed, with no connection left, so that a copy of the file is the store."""
    url = f"sqlite:///{path}"
    open_store(url, "service").close()
    if seeded:
        seed(url)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0, f"{wal} still holds pages"
    return path


def sqlite_copy(template: Path, path: Path) -> str:
    """A store of its own for one test: a copy of ``template`` at ``path``; its URL."""
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


def postgres_template(server: PostgresServer) -> str:
    """The seeded template database on ``server`` (the migrated one is made at its start)."""
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {SEEDED} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
    seed(server.url(SEEDED))
    return SEEDED
