"""Template stores: migrated (and seeded) once a session, copied for each test.

Every API and console test ran every Alembic migration on a new SQLite file, then uploaded the
API harness's fleet over HTTP: 1.7 s a test on this machine when others used its disk. A test
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
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from poagate.store.database import open_store
from tests.api_harness import Clock, load_fleet, make_api
from tests.pg import TEMPLATE, PostgresServer

SEEDED = "poagate_seeded"  # the PostgreSQL template with the fleet in it

# For a test of tests/api/ or tests/console/ (whose stores are SQLite: tests/conftest.py) that
# must also run on PostgreSQL: it parametrizes their ``database`` fixture.
on_both_backends = pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)


def seed(database: str) -> None:
    """The API harness's fleet into the (migrated) store at ``database``, uploaded through the
    application on the harness clock's start."""
    for api in make_api(database, Clock()):
        load_fleet(api)


def sqlite_template(path: Path, seeded: bool) -> Path:
    """A migrated SQLite store at ``path`` (and seeded with the fleet), whole in its one file:
    checkpointed, with no connection left, so that a copy of the file is the store."""
    url = f"sqlite:///{path}"
    open_store(url, "service", schema="create").close()
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


def new_store(request: pytest.FixtureRequest, backend: str, seeded: bool) -> Iterator[str]:
    """A new store for one test on ``backend`` ("sqlite" or "postgres"), copied from the
    template with the fleet (``seeded``) or the schema alone; a PostgreSQL one is dropped after
    the test (the server's files are in memory)."""
    if backend == "sqlite":
        template = "seeded_sqlite_template" if seeded else "migrated_sqlite_template"
        path: Path = request.getfixturevalue("tmp_path") / "poagate.db"
        yield sqlite_copy(request.getfixturevalue(template), path)
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.fresh_database(
        request.getfixturevalue("seeded_postgres_template") if seeded else TEMPLATE
    )
    yield url
    server.drop_database(url)


@pytest.fixture(name="database")
def harness_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """The ``database`` of tests/api/ and tests/console/ (their conftests import it): a new
    store holding the API harness's fleet and GUID list, on SQLite (tests/conftest.py says why)
    or on each backend in turn for a test marked ``on_both_backends``."""
    yield from new_store(request, getattr(request, "param", "sqlite"), seeded=True)
