"""The SQLite store: schema migrations, R6 in the database, locks and read-only use."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from poagate.domain.gate import ForwardedAlert
from poagate.store import Batch, StoreError
from poagate.store.migrate import head_revision
from poagate.store.schema import SCHEMA_REVISION
from poagate.store.sqlite import SqliteStore
from tests.helpers import CHF, ts


def test_code_expects_the_head_of_the_migrations() -> None:
    assert head_revision() == SCHEMA_REVISION


def test_a_new_file_gets_the_whole_schema(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "new.db"):
        pass
    with sqlite3.connect(tmp_path / "new.db") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert {
        "activations",
        "ad1_outcomes",
        "devices",
        "guid_list_versions",
        "sources",
        "rejected_inputs",
    } <= tables
    assert version == SCHEMA_REVISION
    assert mode == "wal"


def forwarded(alert_id: str) -> ForwardedAlert:
    at = ts("2026-03-01T10:00:00Z")
    return ForwardedAlert(alert_id, CHF, "12", at, at, at)


def test_the_database_refuses_a_second_outcome_for_an_alert_id(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "db") as store:
        store.commit(Batch(ad1_outcomes=[forwarded("A1")]))
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed"):
            store.commit(Batch(ad1_outcomes=[forwarded("A2"), forwarded("A1")]))
        # The failed batch left nothing behind: A2 is not there either.
        assert [o.alert_id for o in store.ad1_outcomes()] == ["A1"]


def test_outcomes_read_back_in_decision_order_with_exact_times(tmp_path: Path) -> None:
    alerts = [forwarded(f"A{n}") for n in range(5)]
    with SqliteStore(tmp_path / "db") as store:
        store.commit(Batch(ad1_outcomes=alerts[:2]))
        store.commit(Batch(ad1_outcomes=alerts[2:]))
    with SqliteStore(tmp_path / "db", readonly=True) as store:
        assert list(store.ad1_outcomes()) == alerts


def test_readonly_open_of_a_missing_or_foreign_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no database at"):
        SqliteStore(tmp_path / "missing.db", readonly=True)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(StoreError, match="is not a poagate database"):
        SqliteStore(other, readonly=True)


def test_readers_do_not_wait_for_the_writer(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "db") as store:
        store.commit(Batch(ad1_outcomes=[forwarded("A1")]))
        with SqliteStore(tmp_path / "db", readonly=True) as reader:
            assert reader.counts()["ad1_forwarded"] == 1


def test_lock_is_released_on_close(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "db").close()
    with SqliteStore(tmp_path / "db", lock_wait_seconds=0.1):
        pass
