"""spec §14 in the store: the migration, and servers that run the verification pass at the same
moment on one database (each on its own connection) issuing each request once and releasing
once, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from poagate.domain.events import Activation, Ad1Alert, DeviceMessage
from poagate.domain.outcomes import SuppressionEntry
from poagate.service.ingest import Ingestor, Item
from poagate.service.reference.loads import load_guid_list, load_inventory
from poagate.service.verifications import (
    CHUNK,
    LAST_BEGUN,
    WATERMARK,
    arm_verification,
    verify,
)
from poagate.store.batch import Batch
from poagate.store.database import open_store
from poagate.store.sqlite import SqliteStore
from poagate.store.store import Store
from tests.helpers import CHF, CHF_2, ESME, ESME_2, INVENTORY_HEADER, USER, mpan, ts

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


def suppressed(
    database: str, tmp_path: Path, alerts: int, decided_at: str, second_hub: bool = False
) -> None:
    """An activation at 10:00 of ESME (its hub CHF), and ``alerts`` AD1s of CHF with event_at
    10:05 decided at ``decided_at``, with the guard on: V 10, T 3, A 2. ``second_hub``: first
    the same of ESME_2 (hub CHF_2) and one AD1 of CHF_2, "B0"."""
    now = ts("2026-03-01T10:00:00Z")
    pairs = [(ESME_2, CHF_2, "13"), (ESME, CHF, "12")] if second_hub else [(ESME, CHF, "12")]
    with open_store(database, "service") as store:
        csv = INVENTORY_HEADER + "\n"
        for esme, chf, prefix in pairs:
            csv += f"{esme},ESME,SMETS2,LANDIS+GYR,,{chf},{mpan(prefix)},,\n"
            csv += f"{chf},CHF,SMETS2,TOSHIBA,,,,,\n"
        inventory_file = tmp_path / "inventory.csv"
        inventory_file.write_text(csv)
        load_inventory(store, inventory_file, now)
        guid_file = tmp_path / "guid-list.txt"
        guid_file.write_text("".join(f"{esme}\n" for esme, _, _ in pairs))
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
    for n, (esme, _, _) in enumerate(pairs, start=1):
        activation = Activation(f"{USER}:{esme}:{n}", USER, esme, ts("2026-03-01T10:00:00Z"))
        ingestor.decide_now("test", [Item(1, activation)])
    clock[0] = ts(decided_at)
    event_at = ts("2026-03-01T10:05:00Z")
    if second_hub:
        ingestor.decide_now("test", [Item(1, Ad1Alert("B0", CHF_2, ts(decided_at), event_at))])
    ingestor.decide_now(
        "test",
        [Item(n + 1, Ad1Alert(f"A{n}", CHF, ts(decided_at), event_at)) for n in range(alerts)],
    )


@pytest.mark.parametrize("chunk", [2, CHUNK])
def test_servers_running_the_pass_at_once_ask_once_and_release_once(
    database: str, tmp_path: Path, chunk: int
) -> None:
    # With chunk 2, each pass is three transactions, and the servers' steps interleave.
    suppressed(database, tmp_path, 5, "2026-03-01T10:06:00Z")
    stores = [open_store(database, "service") for _ in range(SERVERS)]
    try:
        for moment in ("10:15:10", "10:16:00", "10:18:05", "10:19:00", "10:21:31", "10:30:00"):
            at_once(stores, lambda store, m=moment: verify(store, ts(f"2026-03-01T{m}Z"), chunk))
    finally:
        for store in stores:
            store.close()
    with open_store(database, "read") as store:
        requests = [(r.alert_id, r.attempt, r.outcome.value) for r in store.verifications.all()]
        outcomes = list(store.listings.ad1_outcomes())
        feed = list(store.listings.feed_page(None))
        # Every entry settled: the last step of the last pass moved the watermark past all.
        assert store.db.meta(WATERMARK) == str(store.alerts.last_seq())
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


def test_an_answered_entry_is_settled_for_good_and_not_read_again(
    database: str, tmp_path: Path
) -> None:
    # B0 (CHF_2, never answered) is under way until its release at 10:21 and holds the pass's
    # watermark before it; A0 and A1 (CHF), answered at 10:16, come after it. The passes read
    # only B0 from then on, and A0 and A1 stay suppressed even when their hub's sign is gone
    # (a retention purge) by the time B0 is released.
    suppressed(database, tmp_path, 2, "2026-03-01T10:06:00Z", second_hub=True)
    sign = ts("2026-03-01T10:16:00Z")
    Ingestor(lambda: open_store(database, "service"), lambda: sign).decide_now(
        "test", [Item(1, DeviceMessage(CHF, sign))]
    )
    with open_store(database, "service") as store:
        verify(store, ts("2026-03-01T10:15:10Z"))
        answered = verify(store, ts("2026-03-01T10:16:30Z"))
        assert answered.answered == 2
        until = ts("2026-03-01T10:20:00Z")
        assert [e.alert_id for _, _, e in store.alerts.unreleased_due(0, until)] == [
            "B0",
            "A0",
            "A1",
        ]
        due = store.alerts.unreleased_due(0, until, unanswered=True)
        assert [e.alert_id for _, _, e in due] == ["B0"]
        verify(store, ts("2026-03-01T10:19:00Z"))  # B0's second attempt
        with store.transaction():
            store.db.run("DELETE FROM device_messages")
        released = verify(store, ts("2026-03-01T10:30:00Z"))
        assert [e.alert_id for e in released.released] == ["B0"]
        outcomes = {o.alert_id: o for o in store.listings.ad1_outcomes()}
        requests = {(r.alert_id, r.attempt): r.outcome.value for r in store.verifications.all()}
    assert all(outcomes[a].released_at is None for a in ("A0", "A1"))
    assert (requests[("A0", 1)], requests[("A1", 1)], requests[("B0", 2)]) == (
        "answered",
        "answered",
        "no_answer",
    )


def test_a_server_leaves_the_pass_to_another_servers_pass_begun_within_half_an_interval(
    database: str, tmp_path: Path
) -> None:
    # Two servers, "a" and "b", each on its own connection, passing every 5 s (half: 2.5 s).
    suppressed(database, tmp_path, 5, "2026-03-01T10:06:00Z")
    within = timedelta(seconds=2.5)

    def run(store: Store, process: str, moment: str) -> tuple[bool, int, int]:
        done = verify(store, ts(f"2026-03-01T{moment}Z"), 2, process, within)
        return done.skipped, len(done.requested), done.expired

    with open_store(database, "service") as a, open_store(database, "service") as b:
        assert run(a, "a", "10:15:10") == (False, 5, 0)  # first requests (V 10 after 10:05)
        before = write_transactions()
        assert run(b, "b", "10:15:12") == (True, 0, 0)  # a's began 2 s before: left to it
        assert write_transactions() == before  # read without the writers' lock
        assert run(a, "a", "10:15:12") == (False, 0, 0)  # never skips after its own
        assert a.db.meta(LAST_BEGUN) == "2026-03-01T10:15:12+00:00 a"
        assert run(b, "b", "10:15:14.500") == (False, 0, 0)  # 2.5 s after a's: its turn
        assert run(a, "a", "10:15:16") == (True, 0, 0)
        # b skipped nothing a pass had to do: attempt 1 expires at 10:18, attempt 2 asked.
        assert run(b, "b", "10:18:05") == (False, 5, 5)
        # a's clock behind b's: b's record is after a's now, and a passes.
        assert run(a, "a", "10:18:04") == (False, 0, 0)
        assert b.db.meta(LAST_BEGUN) == "2026-03-01T10:18:04+00:00 a"
        # a pass with no process (a replay's, a test's) neither skips nor records itself
        assert verify(b, ts("2026-03-01T10:18:05Z"), 2).skipped is False
        assert b.db.meta(LAST_BEGUN) == "2026-03-01T10:18:04+00:00 a"
        requests = [(r.alert_id, r.attempt, r.outcome.value) for r in b.verifications.all()]
    assert sorted(requests) == sorted(
        [(f"A{n}", 1, "expired") for n in range(5)] + [(f"A{n}", 2, "pending") for n in range(5)]
    )


def write_transactions() -> float:
    """How many write transactions this process has made (each takes the writers' lock and
    is counted by ``store.writer_lock``), whatever they did."""
    return sum(
        metric.value
        for family in REGISTRY.collect()
        if family.name == "poagate_writer_lock_held_seconds"
        for metric in family.samples
        if metric.name.endswith("_count")
    )


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
