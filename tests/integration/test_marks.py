"""The marks a group reads ahead of the writers' lock (``poagate.store.marks``): each moves
with the change it follows, on each backend, and ``decided_since`` finds exactly the alert_ids
decided in its range."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from poagate.domain.events import ActivationKind
from poagate.domain.outcomes import (
    ActivationApplied,
    ActivationRecord,
    ForwardedAlert,
    Status,
)
from poagate.domain.reference import Config
from poagate.domain.rules import Reason
from poagate.formats.reference.inventory import write_inventory
from poagate.service.reference.loads import load_guid_list, load_inventory
from poagate.sim.fleet import FleetSpec, generate_fleet
from poagate.store import StoreError
from poagate.store.database import open_store
from poagate.store.marks import ACTIVATIONS_MARK
from poagate.store.store import Store

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def decide(store: Store, *alert_ids: str) -> None:
    with store.deciding() as unit:
        for alert_id in alert_ids:
            unit.add(ForwardedAlert(alert_id, "HUB", "12", NOW, NOW, NOW, "no_active_window"))


def test_each_mark_moves_with_what_it_follows(database: str, tmp_path: Path) -> None:
    fleet = generate_fleet(FleetSpec(esmes=20, seed=3))
    inventory, listed = tmp_path / "inventory.csv", tmp_path / "guid.txt"
    with inventory.open("w", newline="") as f:
        write_inventory(fleet.devices(), f)
    listed.write_text("\n".join(fleet.guid_list()) + "\n")
    with open_store(database, "service") as store:
        reads = store.read_ahead()
        empty = reads.marks()
        assert (empty.config, empty.inventory, empty.last_seq) == (0, 0, 0)

        store.reference.save_config(Config(window_minutes=20), "test", NOW)
        configured = reads.marks()
        assert configured.config > empty.config
        assert not configured.same_reference(empty)

        load_inventory(store, inventory, NOW)
        loaded = reads.marks()
        assert loaded.inventory != configured.inventory
        assert not loaded.same_reference(configured)

        load_guid_list(store, listed, NOW)
        listed_marks = reads.marks()
        assert listed_marks.guid_list != loaded.guid_list
        assert not listed_marks.same_reference(loaded)

        decide(store, "A1", "A2")
        decided = reads.marks()
        assert decided.last_seq == listed_marks.last_seq + 2
        # A decision moves only the last seq: what was read of the reference still holds.
        assert decided.same_reference(listed_marks)
        assert decided.activations == listed_marks.activations
        with store.deciding() as unit:  # the same marks inside a unit of work
            assert unit.marks() == decided
            assert decided.next_seq == store.alerts.next_seq()
            # read under the lock, they say where numbering goes on
            unit.add(ForwardedAlert("A3", "HUB", "12", NOW, NOW, NOW, "no_active_window"))
        assert store.db.scalar("SELECT seq FROM ad1_outcomes WHERE alert_id = 'A3'") == (
            decided.next_seq
        )


def test_the_activations_mark_moves_with_every_write_to_them(database: str) -> None:
    """Moved by the database (a trigger), whoever writes: a decision's insert and its upsert
    of a repeat, an operator ending a window, retention's delete."""
    with open_store(database, "service") as store:
        reads = store.read_ahead()
        seen = [reads.marks().activations]

        def moved() -> bool:
            seen.append(reads.marks().activations)
            return seen[-1] > seen[-2]

        record = ActivationRecord(
            request_id="90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-00-A0:1",
            device_id="00-DB-12-34-56-78-00-A0",
            originator="90-B3-D5-1F-30-01-00-00",
            kind=ActivationKind.IMMEDIATE,
            received_at=NOW,
            execution_at=None,
            chf_id="00-DB-12-34-56-78-00-C0",
            reason=Reason.ELIGIBLE,
            status=Status.ACTIVE,
            window_start=NOW,
            window_end=NOW + timedelta(minutes=30),
            guid_list_version=None,
            mpan=None,
            network_operator="12",
            last_received_at=NOW,
        )
        with store.deciding() as unit:
            unit.add(ActivationApplied((record,), repeat=False))
        assert moved()
        repeat = replace(record, repeats=1, last_received_at=NOW + timedelta(minutes=1))
        with store.deciding() as unit:  # the same request_id again: upserted
            unit.add(ActivationApplied((repeat,), repeat=True))
        assert moved()
        store.activations.end_window(record.request_id, NOW + timedelta(minutes=2), "op", None)
        assert moved()
        with store.transaction():
            store.db.run("DELETE FROM activations")
        assert moved()
        decide(store, "A1")  # an AD1 alone does not move it
        assert not moved()


def test_decided_since_is_the_range_of_decisions_asked_for(database: str) -> None:
    with open_store(database, "service") as store:
        reads = store.read_ahead()
        decide(store, "A1", "A2")
        before = reads.marks().last_seq
        decide(store, "A3", "A4")
        after = reads.marks().last_seq
        asked = ["A1", "A3", "A4", "A9"]
        assert reads.decided_since(asked, before, after) == {"A3", "A4"}
        assert reads.decided_since(asked, 0, after) == {"A1", "A3", "A4"}
        assert reads.decided_since(asked, after, after) == set()  # nothing since: no query
        assert reads.decided_among(asked) == {"A1", "A3", "A4"}


def test_a_store_without_the_activations_mark_is_refused_with_what_to_do(database: str) -> None:
    with open_store(database, "service") as store:
        with store.transaction():
            store.db.run("DELETE FROM meta WHERE key = ?", (ACTIVATIONS_MARK,))
        with pytest.raises(StoreError, match="db upgrade"):
            store.read_ahead().marks()
