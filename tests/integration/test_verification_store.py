"""spec §14 in the store: the migration, and servers that run the verification pass at the same
moment on one database (each on its own connection) issuing each request once and releasing
once, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from poagate.domain.events import Activation, Ad1Alert
from poagate.domain.outcomes import SuppressionEntry
from poagate.service.ingest import Ingestor, Item
from poagate.service.reference.loads import load_guid_list, load_inventory
from poagate.service.verifications import arm_verification, verify
from poagate.store.batch import Batch
from poagate.store.database import open_store
from poagate.store.sqlite import SqliteStore
from poagate.store.store import Store
from tests.helpers import CHF, ESME, INVENTORY_HEADER, USER, mpan, ts

SERVERS = 3


def test_revision_0005_goes_down_and_up_again(tmp_path: Path) -> None:
    from alembic import command

    from poagate.store.migrate import alembic_config

    path = tmp_path / "round.db"
    config = alembic_config(f"sqlite:///{path}")
    command.upgrade(config, "head")
    command.downgrade(config, "0004")
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "verifications" not in tables
    command.upgrade(config, "head")
    with SqliteStore(path) as store:
        store.decisions.commit(Batch())
        assert list(store.verifications.all()) == []


def suppressed(database: str, tmp_path: Path, alerts: int, decided_at: str) -> None:
    """An activation at 10:00 of ESME (its hub CHF), and ``alerts`` AD1s of CHF with event_at
    10:05 decided at ``decided_at``, with the guard on: V 10, T 3, A 2."""
    now = ts("2026-03-01T10:00:00Z")
    with open_store(database, "service") as store:
        csv = (
            f"{INVENTORY_HEADER}\n{ESME},ESME,SMETS2,LANDIS+GYR,,{CHF},{mpan('12')},,\n"
            f"{CHF},CHF,SMETS2,TOSHIBA,,,,,\n"
        )
        inventory_file = tmp_path / "inventory.csv"
        inventory_file.write_text(csv)
        load_inventory(store, inventory_file, now)
        guid_file = tmp_path / "guid-list.txt"
        guid_file.write_text(f"{ESME}\n")
        load_guid_list(store, guid_file, now)
        config = replace(
            store.reference.config(),
            verify_after_minutes=10,
            verify_timeout_minutes=3,
            verify_attempts=2,
        )
        store.reference.save_config(config, "test", now)
        arm_verification(store)
    clock = [now]
    ingestor = Ingestor(lambda: open_store(database, "service"), lambda: clock[0])
    rid = f"{USER}:{ESME}:1"
    activation = Activation(rid, USER, ESME, ts("2026-03-01T10:00:00Z"))
    ingestor.decide_now("test", [Item(1, activation)])
    clock[0] = ts(decided_at)
    ingestor.decide_now(
        "test",
        [
            Item(n + 1, Ad1Alert(f"A{n}", CHF, ts(decided_at), ts("2026-03-01T10:05:00Z")))
            for n in range(alerts)
        ],
    )


def test_servers_running_the_pass_at_once_ask_once_and_release_once(
    database: str, tmp_path: Path
) -> None:
    suppressed(database, tmp_path, 5, "2026-03-01T10:06:00Z")
    stores = [open_store(database, "service") for _ in range(SERVERS)]
    try:
        for moment in ("10:15:10", "10:16:00", "10:18:05", "10:19:00", "10:21:31", "10:30:00"):
            at_once(stores, lambda store, m=moment: verify(store, ts(f"2026-03-01T{m}Z")))
    finally:
        for store in stores:
            store.close()
    with open_store(database, "read") as store:
        requests = [(r.alert_id, r.attempt, r.outcome.value) for r in store.verifications.all()]
        outcomes = list(store.listings.ad1_outcomes())
        feed = list(store.listings.feed_page(None))
    assert sorted(requests) == sorted(
        [(f"A{n}", 1, "expired") for n in range(5)] + [(f"A{n}", 2, "no_answer") for n in range(5)]
    )
    assert all(
        type(o) is SuppressionEntry and o.release_reason == "no_answer_to_verification"
        for o in outcomes
    )
    assert sorted(f.alert_id for f in feed) == [f"A{n}" for n in range(5)]  # released once each


def test_a_pass_that_began_before_the_entry_was_decided_asks_nothing_yet(
    database: str, tmp_path: Path
) -> None:
    # A server's pass reads the clock, then waits for the writer lock while another server
    # decides an AD1 late (its event_at + V long past): the entry's first request is due at its
    # decision, after the pass's ``now``. The pass must not ask an attempt "0" (seen with two
    # real servers), and the next pass asks attempt 1.
    suppressed(database, tmp_path, 1, "2026-03-01T11:00:00Z")
    with open_store(database, "service") as store:
        early = verify(store, ts("2026-03-01T10:59:59Z"))
        assert early.requested == []
        assert list(store.verifications.all()) == []
        verify(store, ts("2026-03-01T11:00:01Z"))
        requests = [(r.alert_id, r.attempt, r.outcome.value) for r in store.verifications.all()]
    assert requests == [("A0", 1, "pending")]


def at_once(stores: list[Store], work: Callable[[Store], object]) -> None:
    """``work(store)`` on every store from its own thread, all started together."""
    barrier = threading.Barrier(len(stores))
    failures: list[BaseException] = []

    def run(store: Store) -> None:
        barrier.wait()
        try:
            work(store)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
