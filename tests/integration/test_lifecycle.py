"""Retention and maintenance (spec §15) on SQLite and PostgreSQL: a pass purges each kind past
its retention and nothing younger, never what a DNO or a guard may still need (a test per case),
is audited, runs one process at a time, and gives SQLite's space back."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from poagate.cli import app
from poagate.domain.outcomes import ForwardedAlert, SuppressionEntry
from poagate.formats.reference.inventory import write_inventory
from poagate.formats.settings import Retention, Settings
from poagate.formats.timestamps import to_us
from poagate.service.configuration import change_configuration
from poagate.service.maintenance import ACTION, ACTOR, LeaseKeeper, LeaseLostError, maintain
from poagate.service.reference.loads import load_inventory
from poagate.store import pacing
from poagate.store.alerts.purges import purges
from poagate.store.batch import Batch
from poagate.store.database import open_store
from poagate.store.pacing import Held
from poagate.store.purge import purge
from poagate.store.sqlite import SqliteStore
from poagate.store.store import Store
from tests.helpers import CHF, ESME, esme, hub, message, outcome, ts
from tests.pg import PostgresServer

T0 = ts("2026-01-01T00:00:00Z")  # when the old rows were received
NOW = T0 + timedelta(days=800)  # past every retention but the audit's
YOUNG = NOW - timedelta(hours=1)


def entry(alert_id: str, at: datetime, window_end: datetime | None = None) -> SuppressionEntry:
    return SuppressionEntry(
        alert_id, CHF, ESME, None, "12", at, at, at, "R:1", "U", at, window_end or at
    )


def forwarded(alert_id: str, at: datetime) -> ForwardedAlert:
    return ForwardedAlert(alert_id, CHF, "12", at, at, at)


def delivery(store: Store, alert_id: str, at: datetime, status: str) -> None:
    store.db.run(
        "INSERT INTO outbox (alert_id, network_operator, chf_id, content_type, payload, "
        "created_at, next_attempt_at, status, attempts) VALUES (?, '12', ?, 'application/json', "
        "?, ?, ?, ?, 0)",
        (alert_id, CHF, b"{}", to_us(at), to_us(at), status),
    )


def verification(store: Store, alert_id: str, at: datetime, outcome: str) -> None:
    store.db.run(
        "INSERT INTO verifications (alert_id, attempt, chf_id, esme_id, requested_at, deadline, "
        "outcome) VALUES (?, 1, ?, ?, ?, ?, ?)",
        (alert_id, CHF, ESME, to_us(at), to_us(at + timedelta(minutes=5)), outcome),
    )


def activation(store: Store, request_id: str, at: datetime, window_end: datetime) -> None:
    store.db.run(
        "INSERT INTO activations (request_id, device_id, originator, kind, received_at, chf_id, "
        "reason, status, window_start, window_end, network_operator, last_received_at, repeats) "
        "VALUES (?, ?, 'U', 'immediate', ?, ?, 'eligible', 'active', ?, ?, '12', ?, 0)",
        (request_id, ESME, to_us(at), CHF, to_us(at), to_us(window_end), to_us(at)),
    )


def newest_rows(store: Store, at: datetime = YOUNG) -> None:
    """A young row in each table a pass purges by age: the newest row of a table is never
    purged (keys are never given twice), so each test's old rows are not the newest."""
    store.decisions.commit(
        Batch(
            ad1_outcomes=[forwarded("TOP", at)],
            device_messages=[message("2028-03-11T00:00:00Z")],
            activation_outcomes=[outcome("2028-03-11T00:00:00Z")],
        )
    )
    with store.transaction():
        delivery(store, "TOP", at, "delivered")
        activation(store, "R:TOP", at, at + timedelta(minutes=30))
        verification(store, "TOP", at, "answered")
        store.db.run(
            "INSERT INTO ignored_inputs (received_at, what) VALUES (?, 'top')", (to_us(at),)
        )


def alert_ids(store: Store) -> set[str]:
    """The AD1s the store holds, but the newest (``newest_rows``)."""
    return {str(r[0]) for r in store.db.fetch("SELECT alert_id FROM ad1_outcomes")} - {"TOP"}


def test_the_newest_row_of_a_table_is_never_purged(database: str) -> None:
    with open_store(database, "service") as store:
        store.decisions.commit(Batch(ad1_outcomes=[forwarded("OLD", T0), forwarded("LAST", T0)]))
        assert maintain(store, NOW).purged["forwarded"] == 1
        assert alert_ids(store) == {"LAST"}
        # The next AD1 is numbered after it, never in the place of one purged.
        assert store.alerts.next_seq() == 3


def count(store: Store, table: str) -> int:
    return int(store.db.scalar(f"SELECT COUNT(*) FROM {table}"))  # noqa: S608 - a test's name


def test_a_pass_purges_each_kind_past_its_retention_and_keeps_the_younger(database: str) -> None:
    with open_store(database, "service") as store:
        batch = Batch(
            ad1_outcomes=[
                entry("OLD-LOG", T0),
                forwarded("OLD-FWD", T0),
                entry("YOUNG-LOG", YOUNG),
                forwarded("YOUNG-FWD", YOUNG),
            ],
            device_messages=[message("2026-01-01T00:00:00Z"), message("2028-03-11T00:00:00Z")],
            activation_outcomes=[outcome("2026-01-01T00:00:00Z")],
        )
        store.decisions.commit(batch)
        with store.transaction():
            delivery(store, "OLD-FWD", T0, "delivered")
            delivery(store, "YOUNG-FWD", YOUNG, "delivered")
            activation(store, "R:1", T0, T0 + timedelta(minutes=30))
            activation(store, "R:2", YOUNG, YOUNG + timedelta(minutes=30))
            verification(store, "OLD-LOG", T0, "answered")
            store.db.run(
                "INSERT INTO ignored_inputs (received_at, what) VALUES (?, 'x'), (?, 'y')",
                (to_us(T0), to_us(YOUNG)),
            )
            store.audit.record(T0, "someone", "config.set", {})
        newest_rows(store)
        done = maintain(store, NOW)
        assert done.ran
        assert done.purged == {
            "suppression_log": 2,  # the entry and its settled verification
            "forwarded": 1,
            "activations": 1,
            "signs_of_life": 2,  # the old device message and activation outcome
            "deliveries": 1,
            "inputs": 1,
            "audit": 0,  # 2555 days
            "sessions": 0,
            "reference_versions": 0,
        }
        assert alert_ids(store) == {"YOUNG-LOG", "YOUNG-FWD"}
        activations = [r[0] for r in store.db.fetch("SELECT request_id FROM activations")]
        assert activations == ["R:2", "R:TOP"]
        assert count(store, "device_messages") == 2
        assert count(store, "outbox") == 2
        assert count(store, "verifications") == 1
        audit = store.audit.last_act([ACTION])
        assert audit is not None
        assert audit.actor == ACTOR
        assert audit.detail["purged"] == done.purged
        # A second pass finds nothing more.
        assert sum(maintain(store, NOW + timedelta(hours=1)).purged.values()) == 0


def test_a_dry_run_counts_and_changes_nothing(database: str) -> None:
    with open_store(database, "service") as store:
        store.decisions.commit(Batch(ad1_outcomes=[forwarded("OLD", T0)]))
        newest_rows(store)
        done = maintain(store, NOW, dry_run=True)
        assert done.purged["forwarded"] == 1
        assert alert_ids(store) == {"OLD"}
        assert store.audit.last_act([ACTION]) is None


def test_never_purges_an_entry_whose_window_may_still_suppress(database: str) -> None:
    with open_store(database, "service") as store:
        store.decisions.commit(
            Batch(ad1_outcomes=[entry("OPEN", T0, window_end=NOW + timedelta(minutes=5))])
        )
        with store.transaction():
            activation(store, "R:OPEN", T0, NOW + timedelta(minutes=5))
        newest_rows(store)
        done = maintain(store, NOW)
        assert alert_ids(store) == {"OPEN"}
        assert count(store, "activations") == 2
        assert done.purged["suppression_log"] == done.purged["activations"] == 0


def test_never_purges_a_pending_or_retrying_delivery(database: str) -> None:
    with open_store(database, "service") as store:
        store.decisions.commit(Batch(ad1_outcomes=[forwarded("RETRYING", T0)]))
        with store.transaction():
            delivery(store, "RETRYING", T0, "pending")
        newest_rows(store)
        maintain(store, NOW)
        assert alert_ids(store) == {"RETRYING"}
        assert count(store, "outbox") == 2
        # Once delivered, the next pass purges both: the kept row held the purge's place.
        store.db.run("UPDATE outbox SET status = 'delivered' WHERE alert_id = 'RETRYING'")
        done = maintain(store, NOW + timedelta(hours=1))
        assert (done.purged["forwarded"], done.purged["deliveries"]) == (1, 1)
        assert alert_ids(store) == set()


def test_never_purges_a_pending_verification_nor_its_entry(database: str) -> None:
    with open_store(database, "service") as store:
        store.decisions.commit(Batch(ad1_outcomes=[entry("ASKED", T0)]))
        with store.transaction():
            verification(store, "ASKED", T0, "pending")
        newest_rows(store)
        maintain(store, NOW)
        assert alert_ids(store) == {"ASKED"}
        assert count(store, "verifications") == 2


def test_never_purges_an_unreleased_entry_a_guard_may_still_release(database: str) -> None:
    with open_store(database, "service") as store:
        change_configuration(store, Settings(release_after_minutes=120), "admin", T0)
        # Received long ago (its hub's clock was wrong), but its event_at is within the reach
        # of release-if-dark: the guard may still release it.
        late = replace(entry("WAITING", T0), event_at=NOW - timedelta(minutes=60))
        store.decisions.commit(Batch(ad1_outcomes=[late, entry("DONE", T0)]))
        newest_rows(store)
        maintain(store, NOW)
        assert alert_ids(store) == {"WAITING"}


def test_never_purges_the_reference_data_in_force(database: str) -> None:
    with open_store(database, "service") as store:
        for minutes in (30, 40, 50):
            change_configuration(
                store,
                Settings(window_minutes=minutes, retention=Retention(reference_versions=0)),
                "admin",
                T0,
            )
        with store.transaction():
            for number in (1, 2, 3):
                store.db.run(
                    "INSERT INTO guid_list_versions (number, loaded_at, source, entry_count, "
                    "sha256) VALUES (?, ?, 'g', 1, ?)",
                    (number, to_us(T0), str(number) * 64),
                )
                store.db.run(
                    "INSERT INTO guid_list_entries (version, device_id) VALUES (?, ?)",
                    (number, ESME),
                )
        done = maintain(store, NOW)
        assert done.purged["reference_versions"] == 4  # two configurations, two GUID lists
        assert store.reference.settings().window_minutes == 50
        assert count(store, "config_versions") == 1
        guid = store.reference.guid_list_for([ESME])
        assert guid.version is not None
        assert guid.version.number == 3
        assert ESME in guid
        assert count(store, "guid_list_entries") == 1


def test_rejected_input_is_purged_a_pass_after_its_retention(database: str) -> None:
    with open_store(database, "service") as store:
        rejected = (
            "INSERT INTO rejected_inputs (kind, source, error, raw) VALUES ('event', 's', 'e', 'r')"
        )
        store.db.run(rejected)
        store.db.run(rejected)
        assert maintain(store, T0).purged["inputs"] == 0  # the pass marks them as seen at T0
        store.db.run(rejected)  # after the mark
        assert maintain(store, T0 + timedelta(days=29)).purged["inputs"] == 0
        # Those seen at T0, but the newest row (seqs are not given twice).
        assert maintain(store, T0 + timedelta(days=31)).purged["inputs"] == 2
        assert count(store, "rejected_inputs") == 1


def test_ended_console_sessions_are_kept_a_day(database: str) -> None:
    with open_store(database, "service") as store:
        token = store.tokens.add("f" * 64, "admin", [], "t", T0, "admin")
        store.sessions.start("a" * 64, token, "c" * 64, NOW - timedelta(hours=2))
        store.sessions.start("b" * 64, token, "c" * 64, NOW - timedelta(days=3))
        store.sessions.end("a" * 64, NOW - timedelta(hours=1))
        store.sessions.end("b" * 64, NOW - timedelta(days=2))
        assert maintain(store, NOW).purged["sessions"] == 1
        assert store.sessions.get("a" * 64) is not None


def test_one_process_at_a_time_runs_a_pass(database: str) -> None:
    with open_store(database, "service") as store:
        store.decisions.commit(Batch(ad1_outcomes=[forwarded("OLD", T0)]))
        newest_rows(store)
        assert store.take_maintenance_lease("elsewhere:1", NOW, timedelta(minutes=10))
        done = maintain(store, NOW)
        assert not done.ran
        assert alert_ids(store) == {"OLD"}
        # A lease that lapsed (its process died) is taken over.
        assert maintain(store, NOW + timedelta(minutes=11)).purged["forwarded"] == 1


def many_steps(store: Store, monkeypatch: pytest.MonkeyPatch, rows: int = 600) -> None:
    """``rows`` old AD1s (and the newest rows) in a store whose pass goes in the least steps
    (store.pacing: every step far over its budget) without rests: a pass of many steps."""
    monkeypatch.setattr(pacing, "BUDGET_SECONDS", 1e-9)
    monkeypatch.setattr(pacing, "REST", 0.0)
    old = [forwarded(f"OLD-{n}", T0 + timedelta(seconds=n)) for n in range(rows)]
    store.decisions.commit(Batch(ad1_outcomes=old))
    newest_rows(store)


def test_a_pass_renews_its_lease_a_quarter_of_it_at_a_time(database: str) -> None:
    with open_store(database, "service") as store:
        hour = timedelta(hours=1)
        assert store.take_maintenance_lease("here:1", NOW, hour)
        elapsed = [0.0]
        keeper = LeaseKeeper(store, "here:1", NOW, hour, lambda: elapsed[0])
        elapsed[0] = 14 * 60.0
        keeper.keep()
        assert keeper.renewals == 0  # not yet a quarter of the lease
        elapsed[0] = 15 * 60.0
        keeper.keep()
        assert keeper.renewals == 1
        # Held until NOW + 75 min now, not NOW + 60 min: another process waits.
        other = "elsewhere:1"
        assert not store.take_maintenance_lease(other, NOW + timedelta(minutes=70), hour)
        assert store.take_maintenance_lease(other, NOW + timedelta(minutes=76), hour)
        # This pass stalled past its lease and another took it: it stops at its next step.
        elapsed[0] = 77 * 60.0
        with pytest.raises(LeaseLostError, match="another process took it"):
            keeper.keep()


def test_a_long_pass_keeps_its_lease_between_its_steps(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_store(database, "service") as store:
        many_steps(store, monkeypatch)
        taken: list[datetime] = []
        take = store.take_maintenance_lease

        def counted(owner: str, now: datetime, lasting: timedelta) -> bool:
            taken.append(now)
            return take(owner, now, lasting)

        monkeypatch.setattr(store, "take_maintenance_lease", counted)
        # A lease of no time: renewed after every step (one of 128 keys at least).
        done = maintain(store, NOW, lease=timedelta(0))
        assert done.purged["forwarded"] == 600
        assert len(taken) >= 1 + 600 // 128
        assert taken[0] == NOW
        assert taken == sorted(taken)  # each renewal for the time the pass has taken


def test_a_pass_whose_lease_is_taken_over_stops_and_leaves_it_to_the_other(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_store(database, "service") as store:
        many_steps(store, monkeypatch)
        take = store.take_maintenance_lease

        def stalled(owner: str, now: datetime, lasting: timedelta) -> bool:
            if len(alert_ids(store)) < 600 and owner != "elsewhere:1":
                # The pass stalled past its lease once it had begun: another process took it.
                assert take("elsewhere:1", now, timedelta(hours=1))
            return take(owner, now, lasting)

        monkeypatch.setattr(store, "take_maintenance_lease", stalled)
        with pytest.raises(LeaseLostError):
            maintain(store, NOW, lease=timedelta(0))
        assert 0 < len(alert_ids(store)) < 600  # stopped part of the way: the rest is left
        monkeypatch.setattr(store, "take_maintenance_lease", take)
        # The other's lease stands: this process's next pass does nothing until it ends.
        assert not maintain(store, NOW + timedelta(minutes=30)).ran


def test_the_command_prints_counts_per_kind(database: str) -> None:
    with open_store(database, "service") as store:
        store.decisions.commit(Batch(ad1_outcomes=[forwarded("OLD", ts("2020-01-01T00:00:00Z"))]))
        newest_rows(store, datetime.now(UTC))
    runner = CliRunner()
    dry = runner.invoke(app, ["maintenance", "run", "--database", database, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "forwarded" in dry.output
    assert "dry run" in dry.output
    assert "took" not in dry.output  # a dry run deletes nothing
    done = runner.invoke(app, ["maintenance", "run", "--database", database])
    assert done.exit_code == 0, done.output
    took = re.search(
        r"took (\d+\.\d) s deleting \((\d+\.\d) s of it holding the writer; (\d+) rests "
        r"made longer for other writers\), (\d+\.\d) s giving back space",
        done.output,
    )
    assert took is not None, done.output
    assert float(took[2]) <= float(took[1])
    with open_store(database, "service") as store:
        assert alert_ids(store) == set()


def test_a_pass_in_the_smallest_steps_purges_every_row_and_moves_its_mark(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Steps far over their budget shrink to the least (store.pacing): thousands of tiny write
    # transactions, each moving the mark on, and not one row too many or too few.
    with open_store(database, "service") as store:
        many_steps(store, monkeypatch)
        done = maintain(store, NOW)
        assert done.purged["forwarded"] == 600
        assert done.purge_seconds > 0  # thousands of steps were timed, not left at the default
        # without rests, the steps are nearly all of the deletes' time (the rest: seeking the end)
        assert 0 < done.purge_held_seconds <= done.purge_seconds
        assert count(store, "ad1_outcomes") == 1
        top = int(store.db.scalar("SELECT seq FROM ad1_outcomes"))
        assert int(store.db.meta("purged:ad1_outcomes:forwarded") or 0) == top


def test_another_connections_write_is_seen_by_the_store(database: str) -> None:
    # What a pass yields to decisions by (store.pacing): the number changes with another
    # connection's commit, on each backend.
    with open_store(database, "service") as mine, open_store(database, "service") as theirs:
        before = mine.db.writes_seen()
        theirs.decisions.commit(Batch(ad1_outcomes=[forwarded("THEIRS", T0)]))
        assert mine.db.writes_seen() != before


def test_a_pass_yields_to_a_writer_beside_it_and_still_purges_every_row(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A decision committed every 5 ms on another connection while the pass runs: the pass rests
    # longer after the steps during whose rest one was committed, and purges what it must.
    monkeypatch.setattr(pacing, "YIELD_SECONDS", 0.02)
    monkeypatch.setattr(pacing, "BUDGET_SECONDS", 1e-9)  # the least step: many steps
    with open_store(database, "service") as store:
        store.decisions.commit(
            Batch(
                ad1_outcomes=[forwarded(f"OLD-{n}", T0 + timedelta(seconds=n)) for n in range(900)]
            )
        )
        newest_rows(store)
    stop = threading.Event()

    def decide() -> None:
        with open_store(database, "service") as other:
            n = 0
            while not stop.is_set():
                at = YOUNG + timedelta(seconds=n)
                other.decisions.commit(Batch(ad1_outcomes=[forwarded(f"NEW-{n}", at)]))
                n += 1
                time.sleep(0.005)

    beside = threading.Thread(target=decide)
    beside.start()
    try:
        with open_store(database, "service") as store:
            held = Held()
            cut = to_us(NOW - timedelta(days=90))
            (forwarded_kind,) = [p for p in purges(to_us(NOW), cut) if p.kind == "forwarded"]
            purged = purge(store.db, forwarded_kind, cut, held=held)
    finally:
        stop.set()
        beside.join()
    assert purged == 900
    assert held.yields >= 1


def test_a_pass_times_its_deletes_their_writer_time_and_its_space_giving_each_apart(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Giving space back made slow on purpose: its time is the space's figure, not the deletes'
    # (a mix-up of the figures once showed the space-giving as the deletes' writer time).
    with open_store(database, "service") as store:
        store.decisions.commit(
            Batch(
                ad1_outcomes=[forwarded(f"OLD-{n}", T0 + timedelta(seconds=n)) for n in range(300)]
            )
        )
        newest_rows(store)

        def slow_give_back() -> int:
            time.sleep(0.3)
            return 0

        monkeypatch.setattr(store, "give_back_space", slow_give_back)
        done = maintain(store, NOW)
    assert done.purged["forwarded"] == 300
    assert done.space_seconds >= 0.3
    assert 0 < done.purge_held_seconds <= done.purge_seconds < done.space_seconds


def test_a_pass_on_postgresql_vacuums_the_tables_it_purged(postgres: PostgresServer) -> None:
    # Autovacuum waits for a fifth of a table to be dead; a pass deletes less of a table kept
    # for months, so the pass vacuums what it purged itself, and the space is reused at once.
    with open_store(postgres.fresh_database(), "service", schema="create") as store:
        at = T0
        store.decisions.commit(
            Batch(
                ad1_outcomes=[forwarded(f"OLD-{n}", at + timedelta(seconds=n)) for n in range(50)]
            )
        )
        newest_rows(store)
        before = vacuums(store, "ad1_outcomes")
        assert maintain(store, NOW).purged["forwarded"] == 50
        assert vacuums(store, "ad1_outcomes") > before
        assert vacuums(store, "device_messages") > 0


def vacuums(store: Store, table: str) -> int:
    return int(
        store.db.scalar(
            "SELECT vacuum_count FROM pg_stat_user_tables "
            "WHERE schemaname = current_schema() AND relname = ?",
            (table,),
        )
    )


def test_a_new_sqlite_store_gives_purged_space_back(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with SqliteStore(path, durable=True, lock="shared", schema="create") as store:
        at = T0
        for chunk in range(4):
            store.decisions.commit(
                Batch(
                    ad1_outcomes=[
                        forwarded(f"A{chunk}-{n}", at + timedelta(seconds=n)) for n in range(5000)
                    ]
                )
            )
        newest_rows(store)
        store.db.run("PRAGMA wal_checkpoint(TRUNCATE)")
        before = path.stat().st_size
        done = maintain(store, NOW)
        store.db.run("PRAGMA wal_checkpoint(TRUNCATE)")
        assert done.purged["forwarded"] == 20_000
        assert done.pages_freed > 0
        assert path.stat().st_size < before / 2
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0


def test_never_purges_the_inventory_in_force(database: str, tmp_path: Path) -> None:
    with open_store(database, "service") as store:
        change_configuration(
            store, Settings(retention=Retention(reference_versions=0)), "admin", T0
        )
        for operator in ("10", "11", "12"):
            path = tmp_path / f"inventory-{operator}.csv"
            with path.open("w", newline="") as f:
                write_inventory([esme(operator=operator), hub()], f)
            in_force = load_inventory(store, path, T0, keep=0).version
        newest_rows(store)
        done = maintain(store, NOW)
        # the two full loads replaced, none of them kept for a rollback (keep=0): a replaced load
        # whose devices are kept for ``poagate inventory rollback`` is never purged
        assert done.purged["reference_versions"] == 2
        assert [v.id for v in store.fleet.versions()] == [in_force.id]
        found = store.fleet.lookup([ESME], [CHF]).get(ESME)
        assert found is not None
        assert found.network_operator == "12"


def test_never_purges_a_replaced_inventory_kept_for_a_rollback(
    database: str, tmp_path: Path
) -> None:
    with open_store(database, "service") as store:
        change_configuration(
            store, Settings(retention=Retention(reference_versions=0)), "admin", T0
        )
        for operator in ("10", "11", "12"):
            path = tmp_path / f"inventory-{operator}.csv"
            with path.open("w", newline="") as f:
                write_inventory([esme(operator=operator), hub()], f)
            load_inventory(store, path, T0, keep=2)
        newest_rows(store)
        done = maintain(store, NOW)
        assert done.purged["reference_versions"] == 0
        assert len(store.fleet.versions()) == 3
        assert store.fleet.rollback_target() > 0  # still something to go back to
