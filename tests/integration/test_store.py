"""The SQLite store: schema migrations, R6 in the database, locks and read-only use."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest
from prometheus_client import REGISTRY

from poagate.domain.outcomes import ForwardedAlert
from poagate.store import StoreError
from poagate.store.batch import Batch
from poagate.store.database import open_store
from poagate.store.migrate import head_revision
from poagate.store.schema import SCHEMA_REVISION
from poagate.store.sqlite import SqliteStore
from poagate.store.writer_lock import writer_work
from tests.helpers import CHF, ts


def test_code_expects_the_head_of_the_migrations() -> None:
    assert head_revision() == SCHEMA_REVISION


def test_a_new_file_gets_the_whole_schema(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "new.db", schema="create"):
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


def test_the_database_refuses_a_second_outcome_for_an_alert_id(database: str) -> None:
    with open_store(database, "service") as store:
        store.decisions.commit(Batch(ad1_outcomes=[forwarded("A1")]))
        with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
            store.decisions.commit(Batch(ad1_outcomes=[forwarded("A2"), forwarded("A1")]))
        # The failed batch left nothing behind: A2 is not there either.
        assert [o.alert_id for o in store.listings.ad1_outcomes()] == ["A1"]


def test_outcomes_read_back_in_decision_order_with_exact_times(database: str) -> None:
    alerts = [forwarded(f"A{n}") for n in range(5)]
    with open_store(database, "service") as store:
        store.decisions.commit(Batch(ad1_outcomes=alerts[:2]))
        store.decisions.commit(Batch(ad1_outcomes=alerts[2:]))
    with open_store(database, "read") as store:
        assert list(store.listings.ad1_outcomes()) == alerts


def test_every_table_round_trips_on_each_backend(database: str) -> None:
    """Activation records with every kind of NULL, duplicates, outcomes, messages, rejections."""
    from poagate.domain.events import ActivationOutcome, DeviceMessage, Ignored
    from poagate.domain.outcomes import DuplicateAlert
    from poagate.formats.errors import Rejection
    from tests.helpers import activation, gate

    g = gate()
    applied = g.activate(activation("2026-03-01T10:00:00Z"))
    ineligible = g.activate(activation("2026-03-01T10:00:00Z", device=CHF, counter=5))
    at = ts("2026-03-01T10:05:00Z")
    batch = Batch()
    batch.add(applied)
    batch.add(ineligible)
    batch.add(DuplicateAlert("A1", CHF, at), "source", 3)
    batch.add(ActivationOutcome(CHF, at, None, None))
    batch.add(DeviceMessage(CHF, at))
    batch.add_ignored(Ignored(at, "DUIS request 8.2"), None, None)
    batch.add_rejected(Rejection("file", None, "bad", "raw"))
    with open_store(database, "service") as store:
        store.decisions.commit(batch)
        records = list(store.activations.records())
        assert records == [applied.records[0], ineligible.records[0]]
        counts = store.counts()
        assert (
            counts["ad1_duplicates"],
            counts["activation_outcomes"],
            counts["device_messages"],
            counts["messages_ignored"],
        ) == (1, 1, 1, 1)
        assert [r.line for _, r in store.inputs.rejected()] == [None]


def test_readonly_open_of_a_missing_or_foreign_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no poagate store at"):
        SqliteStore(tmp_path / "missing.db", readonly=True)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(StoreError, match="is not a poagate store"):
        SqliteStore(other, readonly=True)


def test_readers_do_not_wait_for_the_writer(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "db", schema="create") as store:
        store.decisions.commit(Batch(ad1_outcomes=[forwarded("A1")]))
        with SqliteStore(tmp_path / "db", readonly=True) as reader:
            assert reader.counts()["ad1_forwarded"] == 1


def test_lock_is_released_on_close(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "db", schema="create").close()
    with SqliteStore(tmp_path / "db", lock_wait_seconds=0.1):
        pass


def test_revision_0003_places_earlier_outcomes_in_the_feed(tmp_path: Path) -> None:
    """A store written before the service applied guards: forwarded AD1s keep their place,
    entries a replay released join the feed after them in the order of their release."""
    from alembic import command

    from poagate.store.migrate import alembic_config

    path = tmp_path / "old.db"
    command.upgrade(alembic_config(f"sqlite:///{path}"), "0002")
    at = 1_772_359_200_000_000  # 2026-03-01T10:00:00Z in microseconds
    rows = [  # seq, alert_id, suppressed, released_at
        (1, "F1", 0, None),
        (2, "R-LATE", 1, at + 9),
        (3, "S1", 1, None),
        (4, "R-EARLY", 1, at + 5),
        (5, "F2", 0, None),
    ]
    with sqlite3.connect(path) as conn:
        for seq, alert_id, suppressed, released_at in rows:
            conn.execute(
                "INSERT INTO ad1_outcomes (seq, alert_id, suppressed, chf_id, network_operator, "
                "event_at, received_at, decided_at, reason, esme_id, activation_request_id, "
                "activation_originator, window_start, window_end, released_at, release_reason) "
                "VALUES (?, ?, ?, ?, '12', ?, ?, ?, 'r', ?, 'q', 'o', ?, ?, ?, ?)",
                (seq, alert_id, suppressed, CHF, at, at, at, CHF, at, at, released_at,
                 None if released_at is None else "no_sign_of_life"),
            )  # fmt: skip
    with SqliteStore(path, schema="upgrade") as store:
        feed = [(o.alert_id, o.reason) for o in store.listings.feed_page(None)]
        assert feed == [
            ("F1", "r"),
            ("F2", "r"),
            ("R-EARLY", "no_sign_of_life"),
            ("R-LATE", "no_sign_of_life"),
        ]
        store.decisions.commit(Batch(ad1_outcomes=[forwarded("F3")]))
        assert [o.alert_id for o in store.listings.feed_page(None, "R-LATE")] == ["F3"]
    with sqlite3.connect(path) as conn:
        places = dict(conn.execute("SELECT alert_id, feed_seq FROM ad1_outcomes"))
    assert places == {"F1": 1, "R-LATE": 7, "S1": None, "R-EARLY": 6, "F2": 5, "F3": 8}


def test_revision_0003_goes_down_and_up_again(tmp_path: Path) -> None:
    from alembic import command

    from poagate.store.migrate import alembic_config

    path = tmp_path / "round.db"
    config = alembic_config(f"sqlite:///{path}")
    command.upgrade(config, "head")
    command.downgrade(config, "0002")
    with sqlite3.connect(path) as conn:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(ad1_outcomes)")}
    assert "feed_seq" not in columns
    command.upgrade(config, "head")
    with SqliteStore(path) as store:
        store.decisions.commit(Batch(ad1_outcomes=[forwarded("F1")]))
        assert [o.alert_id for o in store.listings.feed_page(None)] == ["F1"]


def test_write_transactions_are_timed_by_the_work_named(database: str) -> None:
    # poagate_writer_lock_{wait,held}_seconds: every write transaction, counted under the work
    # its caller names (store.writer_lock), on either backend; a nested one is not counted
    # again, and one that never took the lock (a read-only store) is not counted at all.
    def count(work: str) -> float:
        held = REGISTRY.get_sample_value("poagate_writer_lock_held_seconds_count", {"work": work})
        waited = REGISTRY.get_sample_value("poagate_writer_lock_wait_seconds_count", {"work": work})
        assert held == waited
        return held or 0.0

    before = count("a-test"), count("other")
    with open_store(database, "service") as store:
        with writer_work("a-test"), store.db.transaction(), store.db.transaction():
            store.db.set_meta("k", "1")
        with store.db.transaction():
            store.db.set_meta("k", "2")
    if database.startswith("sqlite"):
        with (
            open_store(database, "read") as store,
            writer_work("a-test"),
            pytest.raises(StoreError),
            store.db.transaction(),
        ):
            pass
    assert (count("a-test"), count("other")) == (before[0] + 1, before[1] + 1)
