"""Invariants through the real SQLite store and the replay: resumption and re-runs."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poagate.domain.events import Event
from poagate.domain.gate import Gate
from poagate.domain.reference import Config
from poagate.service.replay import ReplayRequest, replay
from poagate.store import Batch
from poagate.store.database import open_store
from poagate.store.sql import SqlStore
from poagate.store.sqlite import SqliteStore
from tests.helpers import CHF, CHF_2, ESME, ESME_2, INVENTORY_HEADER, esme, hub, mpan
from tests.pg import PostgresServer
from tests.replay_scenario import Outputs
from tests.strategies import configs, streams

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def store_contents(store: SqlStore) -> dict[str, Any]:
    return {
        "outcomes": list(store.ad1_outcomes()),
        "activations": list(store.activation_records()),
        "counts": store.counts(),
    }


def commit_all(store: SqlStore, gate: Gate, events: list[Event], batch_size: int) -> None:
    batch = Batch()
    for event in events:
        batch.add(gate.apply(event, event.received_at))
        if batch.events >= batch_size:
            store.commit(batch)
            batch = Batch()
    store.commit(batch)


def fresh_gate(store: SqlStore, config: Config) -> Gate:
    from poagate.domain.reference import Inventory
    from tests.helpers import guid_list

    g = Gate(
        Inventory([esme(), hub(), esme(ESME_2, CHF_2, operator="21"), hub(CHF_2)]),
        guid_list(ESME, ESME_2),
        config,
    )
    g.restore(store.activation_records(), store.decided_alert_ids())
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
    with open_store(whole_db, "replay") as store:
        commit_all(store, fresh_gate(store, config), events, batch_size)
        expected = store_contents(store)
    # A crash after ``split`` events: only whole batches reached the store.
    committed = min(split, len(events)) // batch_size * batch_size
    with open_store(broken_db, "replay") as store:
        commit_all(store, fresh_gate(store, config), events[:committed], batch_size)
    with open_store(broken_db, "replay") as store:
        commit_all(store, fresh_gate(store, config), events[committed:], batch_size)
        assert store_contents(store) == expected


@SETTINGS
@given(events=streams, config=configs, split=st.integers(0, 60), batch_size=st.integers(1, 7))
def test_store_resumes_from_its_last_commit_exactly(
    events: list[Event], config: Config, split: int, batch_size: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        names = iter(range(2))
        resumes_exactly(
            lambda: f"sqlite:///{directory}/{next(names)}.db", events, config, split, batch_size
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
    from poagate.domain.events import Activation, Ad1Alert

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
    else:
        fields = {
            "type": "device_message",
            "device_id": event.device_id,
            "received_at": event.received_at,
        }
    return orjson.dumps(fields, option=orjson.OPT_UTC_Z)


@SETTINGS
@given(
    events=streams, garbage=st.lists(st.sampled_from([b"{", b"[]", b'{"type":"x"}']), max_size=3)
)
def test_rerunning_the_same_input_changes_nothing(
    events: list[Event], garbage: list[bytes]
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "inventory.csv").write_text(
            "\n".join(
                (
                    INVENTORY_HEADER,
                    f"{ESME},ESME,SMETS2,LANDIS+GYR,,{CHF},{mpan('12')},,",
                    f"{ESME_2},ESME,SMETS2,LANDIS+GYR,,{CHF_2},{mpan('21')},,",
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
            writer_process=False,
        )
        with SqliteStore(root / "db") as store:
            replay(store, request)
        first = Outputs(root / "out", "").files_without_run_details()
        with SqliteStore(root / "db") as store:
            again = replay(store, request)
        assert again.summary["run"]["events_processed"] == 0
        result = Outputs(root / "out", "")
        assert result.files_without_run_details() == first
        # R6 on the files: every distinct valid alert_id has exactly one outcome.
        alert_ids = {e.alert_id for e in events if hasattr(e, "alert_id")}
        assert set(result.outcomes()) == alert_ids
