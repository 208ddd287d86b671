"""spec §11: a replay decides against the fleet in its store; an inventory already in force is
not loaded again, and ``--inventory`` may be left out (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from poagate.service.reference.loads import load_inventory
from poagate.service.replay import ReplayRequest, replay
from poagate.store.database import open_store
from tests.helpers import CHF, CHF_2, ESME_2
from tests.replay_scenario import Scenario, act, ad1, run_cli


def test_a_stored_inventory_is_reused_by_sha256_or_when_left_out(scenario: Scenario) -> None:
    events = scenario.events(
        "e.jsonl",
        [
            act("2026-03-01T10:00:00Z"),
            ad1("A1", "2026-03-01T10:04:00Z"),
            ad1("A2", "2026-03-01T10:05:00Z", chf=CHF_2),
        ],
    )
    first = scenario.replay(events, out="one", db="state.db")
    assert first.summary["run"]["inventory"]["loaded_now"] is True
    again = scenario.replay(events, out="two", db="state.db")
    assert again.summary["run"]["inventory"]["loaded_now"] is False
    assert again.files_without_run_details() == first.files_without_run_details()
    left_out = run_cli(
        "replay",
        "--guid-list",
        str(scenario.guid_list),
        "--db",
        str(scenario.root / "state.db"),
        "--out",
        str(scenario.root / "three"),
        str(events),
    )
    assert left_out.returncode == 0, left_out.stderr
    assert (scenario.root / "three" / "suppression_log.jsonl").read_bytes() == (
        scenario.root / "one" / "suppression_log.jsonl"
    ).read_bytes()
    # A different file is a new version: loaded, and in force from then on.
    scenario.write_inventory(f"{CHF},CHF,SMETS2,TOSHIBA,,,,,")
    changed = scenario.replay(events, out="four", db="state.db")
    assert changed.summary["run"]["inventory"]["loaded_now"] is True
    assert changed.summary["run"]["inventory"]["devices"] == 1


def test_no_inventory_anywhere_exits_2(scenario: Scenario) -> None:
    events = scenario.events("e.jsonl", [ad1("A1", "2026-03-01T10:04:00Z")])
    result = run_cli(
        "replay",
        "--guid-list",
        str(scenario.guid_list),
        "--out",
        str(scenario.root / "o"),
        str(events),
    )
    assert result.returncode == 2
    assert "--inventory is needed" in result.stderr


def test_a_replay_decides_against_the_inventory_its_store_holds(
    scenario: Scenario, database: str, tmp_path: Path
) -> None:
    events = scenario.events(
        "e.jsonl",
        [
            act("2026-03-01T10:00:00Z"),
            act("2026-03-01T10:00:00Z", device=ESME_2, counter=7),
            ad1("A1", "2026-03-01T10:04:00Z"),
            ad1("A2", "2026-03-01T10:05:00Z", chf=CHF_2),
            ad1("A3", "2026-03-01T11:05:00Z", chf=CHF_2),
        ],
    )
    now = datetime(2026, 3, 2, tzinfo=UTC)
    with open_store(database, "replay") as store:
        loaded = load_inventory(store, scenario.inventory, now).version
        request = ReplayRequest(
            inventory=None,
            guid_list=scenario.guid_list,
            events=[events],
            out=tmp_path / "out",
            writer_process=False,
        )
        summary = replay(store, request).summary
        assert summary["run"]["inventory"] == {
            "load": loaded.id,
            "kind": "full",
            "loaded_now": False,
            "sha256": loaded.sha256,
            "rows_accepted": 4,
            "rows_rejected": 0,
            "devices": 4,
        }
        assert (summary["ad1_suppressed"], summary["ad1_forwarded"]) == (2, 1)
        request.inventory = scenario.inventory  # the same file: not loaded again
        request.out = tmp_path / "again"
        assert replay(store, request).summary["run"]["inventory"]["loaded_now"] is False
        assert [o.alert_id for o in store.listings.ad1_outcomes()] == ["A1", "A2", "A3"]
        assert {o.chf_id for o in store.listings.ad1_outcomes()} == {CHF, CHF_2}
