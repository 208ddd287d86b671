"""Invariants through the real SQLite store and the replay, the spec §9 guards off and on:
resumption after a crash, and re-runs."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poagate.domain.events import Activation, ActivationOutcome, Ad1Alert, Event
from poagate.domain.gate import Gate
from poagate.domain.reference import Config, Inventory
from poagate.service.replay import ReplayRequest, replay
from poagate.store.batch import Batch
from poagate.store.database import open_store
from poagate.store.sqlite import SqliteStore
from poagate.store.store import Store
from tests.helpers import CHF, CHF_2, ESME, ESME_2, INVENTORY_HEADER, esme, guid_list, hub, mpan
from tests.pg import PostgresServer
from tests.replay_scenario import Outputs
from tests.stores import sqlite_copy
from tests.strategies import configs, streams

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def store_contents(store: Store) -> dict[str, Any]:
    return {
        "outcomes": list(store.listings.ad1_outcomes()),
        "activations": list(store.activations.records()),
        "counts": store.counts(),
    }


def commit_all(
    store: Store, gate: Gate, events: list[Event], batch_size: int, *, crash: bool = False
) -> None:
    """Decide and commit ``events`` in batches as ``poagate replay`` does: before each event the
    guards' releases due strictly before its ``received_at`` join the batch, after it those it
    caused (area-outage), and after the last event those due by then. ``crash``: the process
    dies after its last whole batch, before that last step."""
    sector_of = gate.guards.sector_of if gate.guards.area_threshold is not None else None
    batch = Batch()
    for event in events:
        batch.releases += gate.releases_due(event.received_at, inclusive=False)
        batch.add(gate.apply(event, event.received_at))
        batch.releases += gate.releases_due(event.received_at, inclusive=False)
        if batch.events >= batch_size:
            store.decisions.commit(batch, sector_of)
            batch = Batch()
    if crash:
        return
    # The end of the input, by the last event's clock; a resumed run that read no new event
    # takes it from the store, as the replay does (``Store.last_event_at``).
    clock = events[-1].received_at if events else store.last_event_at()
    if clock is not None:
        batch.releases += gate.releases_due(clock)
    store.decisions.commit(batch, sector_of)


def fresh_gate(store: Store, config: Config) -> Gate:
    """A gate restored from the store as a replay restores it, the guards' state too."""
    g = Gate(
        Inventory([esme(), hub(), esme(ESME_2, CHF_2, operator="21"), hub(CHF_2)]),
        guid_list(ESME, ESME_2),
        config,
    )
    g.restore(store.activations.records(), store.alerts.decided_ids())
    if g.guards.active:
        g.guards.restore(store.signs.all(), store.listings.ad1_outcomes())
    return g


def resumes_exactly(
    new_database: Callable[[], str],
    events: list[Event],
    config: Config,
    split: int,
    batch_size: int,
) -> None:
    events = sorted(events, key=lambda e: e.received_at)
    whole_db, broken_db = new_database(), new_database()
    with open_store(whole_db, "replay", schema="create") as store:
        commit_all(store, fresh_gate(store, config), events, batch_size)
        expected = store_contents(store)
    # A crash after ``split`` events: only whole batches reached the store.
    committed = min(split, len(events)) // batch_size * batch_size
    with open_store(broken_db, "replay", schema="create") as store:
        commit_all(store, fresh_gate(store, config), events[:committed], batch_size, crash=True)
    with open_store(broken_db, "replay") as store:
        commit_all(store, fresh_gate(store, config), events[committed:], batch_size)
        assert store_contents(store) == expected


@SETTINGS
@given(events=streams, config=configs, split=st.integers(0, 60), batch_size=st.integers(1, 7))
def test_store_resumes_from_its_last_commit_exactly(
    migrated_sqlite_template: Path, events: list[Event], config: Config, split: int, batch_size: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        names = iter(range(2))
        resumes_exactly(
            lambda: sqlite_copy(migrated_sqlite_template, Path(directory, f"{next(names)}.db")),
            events,
            config,
            split,
            batch_size,
        )


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(events=streams, config=configs, split=st.integers(0, 60), batch_size=st.integers(1, 7))
def test_postgres_store_resumes_from_its_last_commit_exactly(
    postgres: PostgresServer, events: list[Event], config: Config, split: int, batch_size: int
) -> None:
    resumes_exactly(postgres.fresh_database, events, config, split, batch_size)


def as_line(event: Event) -> bytes:
    fields: dict[str, Any]
    if isinstance(event, Ad1Alert):
        fields = {
            "type": "ad1",
            "alert_id": event.alert_id,
            "chf_id": event.chf_id,
            "received_at": event.received_at,
            "event_at": event.event_at,
        }
    elif isinstance(event, Activation):
        fields = {
            "type": "activation",
            "request_id": event.request_id,
            "received_at": event.received_at,
            "execution_at": event.execution_at,
        }
    elif isinstance(event, ActivationOutcome):
        fields = {
            "type": "activation_outcome",
            "device_id": event.device_id,
            "received_at": event.received_at,
            "success": event.success,
        }
    else:
        fields = {
            "type": "device_message",
            "device_id": event.device_id,
            "received_at": event.received_at,
        }
    return orjson.dumps(fields, option=orjson.OPT_UTC_Z)


# Two whole replays an example (about 2.5 s on this machine): 15 examples, as the PostgreSQL
# property above; with 40 it took 217 s, an eighth of the suite.
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=streams,
    config=configs,
    garbage=st.lists(st.sampled_from([b"{", b"[]", b'{"type":"x"}']), max_size=3),
)
def test_rerunning_the_same_input_changes_nothing(
    migrated_sqlite_template: Path, events: list[Event], config: Config, garbage: list[bytes]
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        sqlite_copy(migrated_sqlite_template, root / "db")  # migrated once, for the session
        (root / "inventory.csv").write_text(
            "\n".join(
                (
                    INVENTORY_HEADER,
                    f"{ESME},ESME,SMETS2,LANDIS+GYR,,{CHF},{mpan('12')},,SW1A 1AA",
                    f"{ESME_2},ESME,SMETS2,LANDIS+GYR,,{CHF_2},{mpan('21')},,SW1A 1AB",
                )
            )
            + "\n"
        )
        (root / "guid.txt").write_text(f"{ESME}\n{ESME_2}\n")
        # Written unsorted: the replay orders them.
        (root / "e.jsonl").write_bytes(b"\n".join([*map(as_line, events), *garbage]) + b"\n")
        request = ReplayRequest(
            root / "inventory.csv",
            root / "guid.txt",
            [root / "e.jsonl"],
            root / "out",
            window_minutes=config.window_minutes,
            skew_tolerance_seconds=config.skew_tolerance_seconds,
            release_after_minutes=config.release_after_minutes,
            area_outage_threshold=config.area_outage_threshold,
            area_outage_seconds=config.area_outage_seconds,
            writer_process=False,
        )
        with SqliteStore(root / "db", schema="create") as store:
            replay(store, request)
        first = Outputs(root / "out", "").files_without_run_details()
        with SqliteStore(root / "db") as store:
            again = replay(store, request)
        assert again.summary["run"]["events_processed"] == 0
        result = Outputs(root / "out", "")
        assert result.files_without_run_details() == first
        # R6 on the files: every distinct valid alert_id has exactly one outcome, and a released
        # entry is forwarded once, at its release.
        alert_ids = {e.alert_id for e in events if isinstance(e, Ad1Alert)}
        outcomes = result.outcomes()
        assert set(outcomes) == alert_ids
        released = sum(1 for outcome in outcomes.values() if outcome == "released")
        assert result.summary["ad1_released"] == released
        if config.release_after_minutes is None and config.area_outage_threshold is None:
            assert released == 0
