"""``poagate backup`` and ``poagate restore`` (spec §15) on each backend: what a restore
refuses (a damaged backup, a newer schema, a store that holds data, the other backend), an
older schema brought up to date, and a restore killed part-way leaving a store that says it is
incomplete. The round trip under a server's writes is in tests/api/test_backup_under_load.py."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import orjson
import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from typer.testing import CliRunner

from poagate.cli import app
from poagate.domain.outcomes import ForwardedAlert
from poagate.service.backup import MANIFEST, BackupError, backup, read_manifest, restore
from poagate.store import StoreError
from poagate.store.batch import Batch
from poagate.store.database import is_postgres, open_store
from poagate.store.migrate import alembic_config
from poagate.store.schema import RESTORE_MARKER_KEY, SCHEMA_REVISION
from tests.helpers import CHF, ts
from tests.integration.test_migration_0004 import sqlalchemy_url
from tests.pg import PostgresServer


def _alerts(prefix: str, n: int) -> list[ForwardedAlert]:
    at = ts("2026-03-01T10:00:00Z")
    return [ForwardedAlert(f"{prefix}-{i}", CHF, "12", at, at, at) for i in range(n)]


@pytest.fixture
def target(database: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A second store on the same backend as ``database``, for a restore to write: a new
    database (PostgreSQL: created empty, as an operator's createdb does) or a new file."""
    if not is_postgres(database):
        yield f"sqlite:///{tmp_path / 'restored' / 'poagate.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.fresh_database("template0")
    yield url
    server.drop_database(url)


def _filled(database: str, n: int = 50) -> None:
    with open_store(database, "service") as store:
        store.decisions.commit(Batch(ad1_outcomes=list(_alerts("A", n))))
        store.set_meta("inventory_base", "0")


def _rewrite(backup_file: Path, change: dict[str, object], flip_payload: bool = False) -> None:
    """The backup with its manifest changed (or a byte of its copy flipped), as a damaged or
    foreign file would be."""
    with tarfile.open(backup_file) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(backup_file, "w") as tar:
        for member, data in members:
            if member.name == MANIFEST:
                data = orjson.dumps({**orjson.loads(data), **change})
            elif flip_payload:
                data = data[:4000] + bytes([data[4000] ^ 0xFF]) + data[4001:]
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))


def test_a_restore_gives_back_every_row_and_refuses_to_overwrite_without_force(
    database: str, target: str, tmp_path: Path
) -> None:
    _filled(database)
    manifest = backup(database, tmp_path / "poagate.backup")
    assert manifest.schema_revision == SCHEMA_REVISION
    assert manifest.tables["ad1_outcomes"] == 50
    assert read_manifest(tmp_path / "poagate.backup").body == manifest.body

    restore(tmp_path / "poagate.backup", target)
    with open_store(target, "read") as store:
        assert [o.alert_id for o in store.listings.ad1_outcomes()] == [
            a.alert_id for a in _alerts("A", 50)
        ]
        assert store.meta("inventory_base") == "0"
        assert store.meta(RESTORE_MARKER_KEY) is None
    with open_store(target, "service") as store:  # it takes decisions again: R6 holds
        store.decisions.commit(Batch(ad1_outcomes=list(_alerts("B", 1))))
        with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
            store.decisions.commit(Batch(ad1_outcomes=list(_alerts("A", 1))))

    with pytest.raises(BackupError, match="already holds data"):
        restore(tmp_path / "poagate.backup", target)
    with open_store(target, "read") as store:  # nothing changed
        assert store.counts()["ad1_forwarded"] == 51
    restore(tmp_path / "poagate.backup", target, force=True)
    with open_store(target, "read") as store:
        assert store.counts()["ad1_forwarded"] == 50


def test_a_damaged_backup_a_newer_schema_and_the_other_backend_are_refused(
    database: str, target: str, tmp_path: Path
) -> None:
    _filled(database)
    good = tmp_path / "good.backup"
    backup(database, good)
    for name, change, flip, reason in (
        ("damaged", {}, True, "does not have the SHA-256"),
        ("newer", {"schema_revision": "9999"}, False, "newer than this poagate"),
        (
            "other",
            {"backend": "sqlite" if is_postgres(database) else "postgresql"},
            False,
            "restores into a",
        ),
    ):
        bad = tmp_path / f"{name}.backup"
        bad.write_bytes(good.read_bytes())
        _rewrite(bad, change, flip)
        with pytest.raises(BackupError, match=reason):
            restore(bad, target)
    truncated = tmp_path / "truncated.backup"
    truncated.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(BackupError, match=r"not a whole poagate backup|damaged"):
        restore(truncated, target)
    # None of them wrote anything: the target is still no store of any kind.
    if not is_postgres(database):
        assert not Path(target.removeprefix("sqlite:///")).exists()


def test_a_backup_of_an_older_schema_is_brought_up_to_date(
    database: str, target: str, tmp_path: Path
) -> None:
    _filled(database)
    command.downgrade(alembic_config(sqlalchemy_url(database)), "0006")
    engine = sa.create_engine(sqlalchemy_url(database))
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == (
                "0006"
            )
    finally:
        engine.dispose()
    manifest = backup(database, tmp_path / "old.backup")
    assert manifest.schema_revision == "0006"
    restore(tmp_path / "old.backup", target)
    with open_store(target, "read") as store:
        assert store.db.scalar("SELECT version_num FROM alembic_version") == SCHEMA_REVISION
        assert store.counts()["ad1_forwarded"] == 50


# A restore in a process of its own, killed (SIGKILL) as it reaches a step.
KILLED_RESTORE = """
import os, signal, sys
from pathlib import Path
from poagate.service.backup import restore

def step(name):
    if name == sys.argv[3]:
        os.kill(os.getpid(), signal.SIGKILL)

restore(Path(sys.argv[1]), sys.argv[2], on_step=step)
"""


@pytest.mark.parametrize("step", ["marked", "loaded"])
def test_a_restore_killed_part_way_leaves_a_store_that_says_it_is_incomplete(
    database: str, target: str, tmp_path: Path, step: str
) -> None:
    _filled(database)
    backup(database, tmp_path / "poagate.backup")
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RESTORE, str(tmp_path / "poagate.backup"), target, step],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    for purpose in ("service", "read", "replay"):
        with pytest.raises(StoreError, match="is incomplete: a restore into it did not finish"):
            open_store(target, purpose)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="is incomplete"):
        backup(target, tmp_path / "of-incomplete.backup")
    served = subprocess.run(
        [sys.executable, "-m", "poagate.cli", "serve", "--database", target, "--port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert served.returncode != 0
    assert "is incomplete" in served.stderr

    # The same restore again finishes the job, without --force.
    result = CliRunner().invoke(
        app, ["restore", "--from", str(tmp_path / "poagate.backup"), "--database", target]
    )
    assert result.exit_code == 0, result.output
    with open_store(target, "read") as store:
        assert store.counts()["ad1_forwarded"] == 50


def test_the_backup_command_writes_a_file_the_restore_command_reads(
    empty_sqlite: str, tmp_path: Path
) -> None:
    _filled(empty_sqlite)
    out = tmp_path / "nightly.backup"
    made = CliRunner().invoke(app, ["backup", "--db", empty_sqlite, "--out", str(out)])
    assert made.exit_code == 0, made.output
    assert "schema revision" in " ".join(made.output.split())  # Rich wraps at any width
    assert out.stat().st_mode & 0o777 == 0o600  # it holds the webhooks' signing secrets
    restored = tmp_path / "restored.db"
    done = CliRunner().invoke(app, ["restore", "--from", str(out), "--db", str(restored)])
    assert done.exit_code == 0, done.output
    again = CliRunner().invoke(app, ["restore", "--from", str(out), "--db", str(restored)])
    assert again.exit_code == 1
    assert "--force" in again.output


def test_a_store_with_the_schema_and_no_rows_is_empty_to_a_restore(
    database: str, target: str, tmp_path: Path
) -> None:
    _filled(database)
    backup(database, tmp_path / "poagate.backup")
    if not is_postgres(target):
        Path(target.removeprefix("sqlite:///")).parent.mkdir()
    open_store(target, "service", schema="create").close()  # by `poagate db init`: the schema alone
    restore(tmp_path / "poagate.backup", target)
    with open_store(target, "read") as store:
        assert store.counts()["ad1_forwarded"] == 50


def test_a_restore_whose_rows_differ_from_the_manifest_leaves_the_store_incomplete(
    database: str, target: str, tmp_path: Path
) -> None:
    _filled(database)
    wrong = tmp_path / "wrong-counts.backup"
    manifest = backup(database, wrong)
    _rewrite(wrong, {"tables": {**manifest.tables, "ad1_outcomes": 51}})
    with pytest.raises(BackupError, match="ad1_outcomes: 50 rows, backup had 51"):
        restore(wrong, target)
    with pytest.raises(StoreError, match="is incomplete"):
        open_store(target, "service")
