"""spec §17 "The store is never made by accident" and spec §16 "Upgrades": ``poagate db init``,
``db status`` and ``db upgrade`` are the only commands that make a store or change its schema;
every other command refuses a store that is missing, not poagate's or of an older revision
(exit 2, saying what to run, no traceback) and creates nothing beside a path that is not a
poagate store, nor any folder."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from typer.testing import CliRunner

from poagate.cli import app
from poagate.store.database import open_store
from poagate.store.migrate import alembic_config
from poagate.store.schema import SCHEMA_REVISION
from tests.integration.test_migration_0004 import sqlalchemy_url
from tests.pg import PostgresServer

PREVIOUS = f"{int(SCHEMA_REVISION) - 1:04d}"
# Should a refusal ever fail, serve must not start listening: an address no interface has.
NOWHERE = ("--host", "203.0.113.1", "--port", "8000")


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_serve_refuses_a_store_in_a_missing_folder_and_creates_no_folder(tmp_path: Path) -> None:
    """The finding: ``serve --db`` in folders that did not exist made them and an empty store,
    and reported ready. Now: exit 2, one line saying what to run, nothing made."""
    database = tmp_path / "no" / "such" / "poagate.db"
    served = subprocess.run(
        [sys.executable, "-m", "poagate.cli", "serve", "--db", str(database), *NOWHERE],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert served.returncode == 2
    assert "Traceback" not in served.stderr
    assert "poagate creates no folders" in served.stderr
    assert "poagate db init" in served.stderr
    assert listing(tmp_path) == set()


@pytest.mark.parametrize(
    "args",
    [
        ["token", "create", "--role", "admin"],
        ["token", "list"],
        ["log", "export", "--network-operator", "12", "--format", "csv"],
        ["window", "list"],
        ["inventory", "versions"],
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_commands_refuse_a_missing_store_and_create_no_file(
    tmp_path: Path, args: list[str]
) -> None:
    code, _, stderr = cli(*args, "--database", str(tmp_path / "poagate.db"))
    assert code == 2
    assert "there is no poagate store at" in stderr
    assert f"poagate db init --database {tmp_path / 'poagate.db'}" in stderr
    assert listing(tmp_path) == set()


def test_a_file_that_is_not_a_store_is_refused_and_nothing_is_made_beside_it(
    tmp_path: Path,
) -> None:
    """The finding: ``--db`` on a text file printed ``sqlite3.DatabaseError`` and created
    ``<file>.lock``, ``.write.lock`` and ``.writer.lock`` beside it."""
    text = tmp_path / "hosts"
    text.write_text("127.0.0.1 localhost\n")
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE accounts (id INTEGER)")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for path in (text, other):
        for args in (
            ["serve", *NOWHERE],
            ["token", "create", "--role", "admin"],
            ["token", "list"],
            ["db", "init"],
            ["db", "upgrade"],
        ):
            code, _, stderr = cli(*args, "--database", str(path))
            assert code == 2, (path, args)
            assert "is not a poagate store" in stderr
            assert "Traceback" not in stderr
        code, stdout, _ = cli("db", "status", "--database", str(path))
        assert code == 2
        assert "state:    foreign" in stdout
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_db_init_makes_a_store_the_other_commands_then_use(tmp_path: Path) -> None:
    database = str(tmp_path / "poagate.db")
    code, stdout, _ = cli("db", "init", "--database", database)
    assert code == 0
    assert f"created a poagate store at revision {SCHEMA_REVISION}" in stdout
    code, stdout, _ = cli("db", "status", "--database", database)
    assert code == 0
    assert "state:    current" in stdout
    assert f"revision: {SCHEMA_REVISION}" in stdout
    code, _, _ = cli("token", "create", "--role", "admin", "--database", database)
    assert code == 0
    code, stdout, _ = cli("db", "init", "--database", database)  # again: left as it is
    assert (code, "unchanged" in stdout) == (0, True)
    with open_store(database, "read") as store:
        assert store.db.scalar("SELECT COUNT(*) FROM api_tokens") == 1


def _revision(database: str) -> str:
    engine = sa.create_engine(sqlalchemy_url(database))
    try:
        with engine.connect() as conn:
            return str(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar())
    finally:
        engine.dispose()


def test_an_older_schema_is_refused_until_db_upgrade(database: str) -> None:
    """On each backend: a store of the previous revision is used by no command (exit 2, saying
    to run ``db upgrade``) and left as it is; ``db status`` says so; ``db upgrade`` migrates it,
    after which the commands use it."""
    command.downgrade(alembic_config(sqlalchemy_url(database)), PREVIOUS)
    for args in (["token", "create", "--role", "admin"], ["token", "list"], ["db", "init"]):
        code, _, stderr = cli(*args, "--database", database)
        assert code == 2, args
        assert f"schema revision {PREVIOUS}, older than this poagate's" in stderr
        assert "poagate db upgrade --database" in stderr
    code, _, stderr = cli("serve", *NOWHERE, "--database", database)  # serve, too
    assert (code, "poagate db upgrade" in stderr) == (2, True)
    assert _revision(database) == PREVIOUS  # nothing migrated it
    code, stdout, _ = cli("db", "status", "--database", database)
    assert code == 2
    assert "state:    outdated" in stdout
    assert f"revision: {PREVIOUS}" in stdout
    code, stdout, _ = cli("db", "upgrade", "--database", database)
    assert code == 0
    assert f"upgraded from revision {PREVIOUS} to {SCHEMA_REVISION}" in stdout
    assert _revision(database) == SCHEMA_REVISION
    code, _, _ = cli("token", "create", "--role", "admin", "--database", database)
    assert code == 0
    code, stdout, _ = cli("db", "upgrade", "--database", database)
    assert (code, "unchanged" in stdout) == (0, True)


def test_db_upgrade_and_status_refuse_a_missing_store(tmp_path: Path) -> None:
    database = str(tmp_path / "poagate.db")
    code, _, stderr = cli("db", "upgrade", "--database", database)
    assert code == 2
    assert "poagate db init" in stderr
    code, stdout, _ = cli("db", "status", "--database", database)
    assert (code, "state:    missing" in stdout) == (2, True)
    assert listing(tmp_path) == set()


def test_postgres_db_init_fills_an_empty_database_and_refuses_others(
    postgres: PostgresServer,
) -> None:
    """poagate creates no PostgreSQL database, makes its tables only in an empty one through
    ``db init``, and leaves a database of other tables alone."""
    with psycopg.connect(postgres.url("postgres"), autocommit=True) as conn:
        conn.execute("CREATE DATABASE poagate_empty")
        conn.execute("CREATE DATABASE poagate_other")
    empty, other = postgres.url("poagate_empty"), postgres.url("poagate_other")
    try:
        with psycopg.connect(other, autocommit=True) as conn:
            conn.execute("CREATE TABLE accounts (id INTEGER)")
        code, _, stderr = cli("token", "list", "--database", empty)
        assert code == 2
        assert "is an empty database" in stderr
        assert "poagate db init" in stderr
        assert cli("db", "init", "--database", empty)[0] == 0
        code, stdout, _ = cli("db", "status", "--database", empty)
        assert (code, "state:    current" in stdout) == (0, True)
        for args in (["db", "init"], ["db", "upgrade"], ["token", "list"]):
            code, _, stderr = cli(*args, "--database", other)
            assert (code, "is not a poagate store" in stderr) == (2, True), args
        with psycopg.connect(other) as conn:
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchall()
        assert tables == [("accounts",)]
        code, _, stderr = cli("db", "init", "--database", postgres.url("poagate_nowhere"))
        assert (code, "the database does not exist" in stderr) == (2, True)
    finally:
        postgres.drop_database(empty)
        postgres.drop_database(other)


# Another process reading the store: connect, read, close (the last to close a WAL database
# checkpoints it and deletes the WAL, unless another process holds it open).
READ_SEEN = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
print(conn.execute("SELECT value FROM meta WHERE key = 'seen'").fetchone()[0])
conn.close()
"""


def test_looking_at_a_store_keeps_the_locks_its_writer_holds(tmp_path: Path) -> None:
    """Checking what is at a path (every open does) must not drop the POSIX locks this
    process's own SQLite connections hold on the file: it did when the header was read with a
    Python file object, and another process closing its connection then deleted the WAL a
    server was still writing to, losing every later decision."""
    database = str(tmp_path / "poagate.db")
    assert cli("db", "init", "--database", database)[0] == 0
    with open_store(database, "service") as writer:
        writer.set_meta("seen", "first")
        open_store(database, "read").close()  # looks at the store, in the writer's process
        subprocess.run([sys.executable, "-c", READ_SEEN, str(tmp_path / "poagate.db")], check=True)
        writer.set_meta("seen", "second")
        seen = subprocess.run(  # while the writer is open, as a server stays
            [sys.executable, "-c", READ_SEEN, str(tmp_path / "poagate.db")],
            capture_output=True,
            text=True,
            check=True,
        )
    assert seen.stdout.strip() == "second"
