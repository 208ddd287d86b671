"""spec §8: ``poagate replay`` end to end on SQLite, through the real command line."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.helpers import CHF, CHF_2, ESME, ESME_2, FIXTURES, USER, duis_template, mpan
from tests.replay_scenario import Outputs, Scenario, act, ad1, run_cli

RID = f"{USER}:{ESME}:1000"


def test_outputs_have_the_spec_files_fields_and_utc_timestamps(scenario: Scenario) -> None:
    events = scenario.events(
        "events.jsonl",
        [
            act("2026-03-01T10:00:00Z"),
            ad1("A1", "2026-03-01T10:04:00Z", "2026-03-01T10:01:00+00:00"),
            ad1("A2", "2026-03-01T11:00:00Z", chf=CHF_2),
            ad1("A1", "2026-03-01T11:05:00Z"),
            "{not json",
        ],
    )
    result = scenario.replay(events)
    names = {p.name for p in result.directory.iterdir()}
    spec = {
        "forwarded.jsonl",
        "suppression_log.jsonl",
        "activations.jsonl",
        "rejected.jsonl",
        "summary.json",
        "verifications.jsonl",  # spec §14: empty while the verification guard is off
    }
    assert spec <= names
    assert all(n.startswith("poagate.db") for n in names - spec)  # the default --db and its locks
    (entry,) = result.suppressed
    assert entry == {
        "alert_id": "A1",
        "chf_id": CHF,
        "esme_id": ESME,
        "mpan": mpan("12"),
        "network_operator": "12",
        "event_at": "2026-03-01T10:01:00Z",
        "received_at": "2026-03-01T10:04:00Z",
        "decided_at": "2026-03-01T10:04:00Z",
        "activation_request_id": RID,
        "activation_originator": USER,
        "window_start": "2026-03-01T10:00:00Z",
        "window_end": "2026-03-01T10:30:00Z",
        "rule": "firmware_activation_window",
        "released_at": None,
        "release_reason": None,
    }
    assert result.forwarded == [
        {
            "alert_id": "A2",
            "chf_id": CHF_2,
            "network_operator": "21",
            "event_at": "2026-03-01T11:00:00Z",
            "received_at": "2026-03-01T11:00:00Z",
            "decided_at": "2026-03-01T11:00:00Z",
            "reason": "no_active_window",
        }
    ]
    assert result.activations == [
        {
            "request_id": RID,
            "device_id": ESME,
            "originator": USER,
            "kind": "immediate",
            "received_at": "2026-03-01T10:00:00Z",
            "execution_at": None,
            "chf_id": CHF,
            "reason": "eligible",
            "status": "active",
            "window_start": "2026-03-01T10:00:00Z",
            "window_end": "2026-03-01T10:30:00Z",
            "guid_list_version": 1,
        }
    ]
    (rejected,) = result.rejected
    assert rejected["source"] == str(events)
    assert rejected["line"] == 5
    assert rejected["error"].startswith("not valid JSON")
    assert rejected["raw"] == "{not json"
    summary = result.summary
    assert {
        k: summary[k]
        for k in (
            "events_read",
            "events_rejected",
            "activations",
            "activations_eligible",
            "ad1_received",
            "ad1_suppressed",
            "ad1_forwarded",
            "ad1_duplicates",
        )
    } == {
        "events_read": 5,
        "events_rejected": 1,
        "activations": 1,
        "activations_eligible": 1,
        "ad1_received": 3,
        "ad1_suppressed": 1,
        "ad1_forwarded": 1,
        "ad1_duplicates": 1,
    }


def test_rejected_inventory_and_guid_rows_are_listed_with_their_file(scenario: Scenario) -> None:
    scenario.inventory.write_text(scenario.inventory.read_text() + "bad-row,ESME\n")
    scenario.guid_list.write_text(scenario.guid_list.read_text() + "not-a-device\n")
    result = scenario.replay(scenario.events("e.jsonl", [ad1("A1", "2026-03-01T10:00:00Z")]))
    sources = {(r["source"], r["line"]) for r in result.rejected}
    assert sources == {(str(scenario.inventory), 6), (str(scenario.guid_list), 4)}
    assert result.summary["events_rejected"] == 0  # only event lines count here


def test_every_kind_of_bad_line_is_rejected_and_the_rest_processed(scenario: Scenario) -> None:
    events = scenario.events(
        "e.jsonl",
        [
            ad1("A1", "2026-03-01T10:00:00Z"),
            "[1,2]",
            {"type": "bogus", "received_at": "2026-03-01T10:01:00Z"},
            {"type": "ad1", "alert_id": "A2", "received_at": "2026-03-01T10:02:00Z"},
            ad1("A3", "2026-03-01T10:03:00Z", chf="hub"),
            {**act("2026-03-01T10:04:00Z"), "request_id": "1:2"},
            ad1("A4", "2026-03-01T10:05:00"),
            {"type": "duis", "received_at": "2026-03-01T10:06:00Z", "xml": "<x"},
            "",
            ad1("A5", "2026-03-01T10:07:00Z"),
        ],
    )
    result = scenario.replay(events)
    assert [r["line"] for r in result.rejected] == [2, 3, 4, 5, 6, 7, 8]
    assert set(result.outcomes()) == {"A1", "A5"}
    assert result.summary["events_read"] == 9  # the blank line is not an event


def test_duis_events_go_through_the_same_gate(scenario: Scenario) -> None:
    immediate = duis_template("CS06_11.3_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML").read_text()
    response = (FIXTURES / "duis" / "firmware_version_response.xml").read_text()
    events = scenario.events(
        "e.jsonl",
        [
            {"type": "duis", "received_at": "2026-03-01T10:00:00Z", "xml": immediate},
            ad1("A1", "2026-03-01T10:04:00Z"),
            {"type": "duis", "received_at": "2026-03-01T10:05:00Z", "xml": response},
        ],
    )
    result = scenario.replay(events)
    assert result.outcomes() == {"A1": "suppressed"}
    assert result.summary["device_messages"] == 1


def test_events_across_files_are_processed_in_received_at_order(scenario: Scenario) -> None:
    # The activation is in the second file but received first: the AD1 must see its window.
    alerts = scenario.events("alerts.jsonl", [ad1("A1", "2026-03-01T10:04:00Z")])
    requests = scenario.events("requests.jsonl", [act("2026-03-01T10:00:00Z")])
    assert scenario.replay(alerts, requests).outcomes() == {"A1": "suppressed"}


def test_a_file_out_of_order_is_read_in_received_at_order(scenario: Scenario) -> None:
    events = scenario.events(
        "e.jsonl",
        [
            ad1("A1", "2026-03-01T10:04:00Z"),
            act("2026-03-01T10:00:00Z"),
            ad1("A0", "2026-03-01T09:59:00Z"),
        ],
    )
    result = scenario.replay(events)
    assert result.outcomes() == {"A1": "suppressed", "A0": "forwarded"}
    assert result.summary["run"]["files"][0]["in_received_at_order"] is False
    assert [a["alert_id"] for a in result.forwarded + result.suppressed] == ["A0", "A1"]


def test_ties_keep_file_order_then_line_order(scenario: Scenario) -> None:
    # An activation and an AD1 received at the same instant: whichever comes first decides.
    first = scenario.events("1.jsonl", [ad1("A1", "2026-03-01T10:00:00Z")])
    second = scenario.events("2.jsonl", [act("2026-03-01T10:00:00Z")])
    assert scenario.replay(first, second, out="o1").outcomes() == {"A1": "forwarded"}
    assert scenario.replay(second, first, out="o2").outcomes() == {"A1": "suppressed"}
    same_file = scenario.events(
        "3.jsonl", [act("2026-03-01T10:00:00Z", counter=5), ad1("A2", "2026-03-01T10:00:00Z")]
    )
    assert scenario.replay(same_file, out="o3").outcomes() == {"A2": "suppressed"}


def test_duplicate_request_id_across_files_is_a_repeat(scenario: Scenario) -> None:
    one = scenario.events("1.jsonl", [act("2026-03-01T10:00:00Z", command_variant=5)])
    two = scenario.events(
        "2.jsonl",
        [act("2026-03-01T10:20:00Z"), ad1("A1", "2026-03-01T10:45:00Z", "2026-03-01T10:40:00Z")],
    )
    result = scenario.replay(one, two)
    assert result.summary["activations"] == 1
    assert result.activations[0]["window_end"] == "2026-03-01T10:50:00Z"
    assert result.outcomes() == {"A1": "suppressed"}


def test_duplicate_alert_id_across_files_is_counted_once(scenario: Scenario) -> None:
    one = scenario.events("1.jsonl", [ad1("A1", "2026-03-01T10:00:00Z")])
    two = scenario.events("2.jsonl", [ad1("A1", "2026-03-01T10:30:00Z")])
    summary = scenario.replay(one, two).summary
    assert (summary["ad1_received"], summary["ad1_forwarded"], summary["ad1_duplicates"]) == (
        2,
        1,
        1,
    )


def test_rerun_with_the_same_db_changes_nothing(scenario: Scenario) -> None:
    events = scenario.events(
        "e.jsonl",
        [
            act("2026-03-01T10:00:00Z"),
            ad1("A1", "2026-03-01T10:04:00Z"),
            ad1("A1", "2026-03-01T10:05:00Z"),
            ad1("A2", "2026-03-01T11:04:00Z"),
            "garbage",
        ],
    )
    first = scenario.replay(events, db="state.db").files_without_run_details()
    again = scenario.replay(events, db="state.db")
    assert again.files_without_run_details() == first
    assert again.summary["run"]["events_processed"] == 0
    assert again.summary["run"]["events_already_applied"] == 5


def test_new_file_on_an_existing_db_adds_to_the_outputs(scenario: Scenario) -> None:
    monday = scenario.events(
        "monday.jsonl", [act("2026-03-02T10:00:00Z"), ad1("A1", "2026-03-02T10:04:00Z")]
    )
    tuesday = scenario.events("tuesday.jsonl", [ad1("A2", "2026-03-03T10:04:00Z")])
    scenario.replay(monday, db="state.db")
    result = scenario.replay(monday, tuesday, db="state.db")
    assert result.outcomes() == {"A1": "suppressed", "A2": "forwarded"}
    assert result.summary["run"]["events_processed"] == 1


def test_a_file_whose_content_changed_is_read_again_as_new_input(scenario: Scenario) -> None:
    events = scenario.events("e.jsonl", [ad1("A1", "2026-03-01T10:04:00Z")])
    scenario.replay(events, db="state.db")
    scenario.events(
        "e.jsonl", [ad1("A1", "2026-03-01T10:04:00Z"), ad1("A2", "2026-03-01T10:05:00Z")]
    )
    summary = scenario.replay(events, db="state.db").summary
    # The alert already decided is a duplicate now; nothing is decided twice.
    assert (summary["ad1_forwarded"], summary["ad1_duplicates"]) == (2, 1)


def test_same_file_given_twice_is_read_once(scenario: Scenario) -> None:
    events = scenario.events("e.jsonl", [ad1("A1", "2026-03-01T10:04:00Z")])
    copy = scenario.root / "copy.jsonl"
    copy.write_bytes(events.read_bytes())
    result = scenario.replay(events, copy)
    assert result.summary["ad1_duplicates"] == 0
    assert "has the same content as" in result.output


def test_unchanged_reference_files_make_no_new_versions(scenario: Scenario) -> None:
    events = scenario.events("e.jsonl", [ad1("A1", "2026-03-01T10:04:00Z")])
    scenario.replay(events, db="state.db")
    run = scenario.replay(events, db="state.db").summary["run"]
    assert run["inventory"]["loaded_now"] is False
    assert run["guid_list"]["new_version"] is False
    assert run["guid_list"]["version"] == 1
    scenario.write_guid_list(ESME)
    run = scenario.replay(events, db="state.db").summary["run"]
    assert (run["guid_list"]["version"], run["guid_list"]["entries"]) == (2, 1)


def test_activation_is_judged_against_the_guid_list_version_in_force(scenario: Scenario) -> None:
    day1 = scenario.events("d1.jsonl", [act("2026-03-01T10:00:00Z")])
    scenario.replay(day1, db="state.db")
    scenario.write_guid_list(ESME_2)  # ESME leaves the list
    day2 = scenario.events(
        "d2.jsonl", [act("2026-03-02T10:00:00Z", counter=2000), ad1("A1", "2026-03-02T10:04:00Z")]
    )
    result = scenario.replay(day1, day2, db="state.db")
    reasons = {(a["request_id"], a["reason"], a["guid_list_version"]) for a in result.activations}
    assert reasons == {
        (RID, "eligible", 1),
        (f"{USER}:{ESME}:2000", "not_on_guid_list", 2),
    }
    assert result.outcomes() == {"A1": "forwarded"}


def test_configuration_options(scenario: Scenario) -> None:
    events = scenario.events(
        "e.jsonl",
        [
            act("2026-03-01T10:00:00Z"),
            ad1("A1", "2026-03-01T10:12:00Z", "2026-03-01T10:11:00Z"),
            ad1("A2", "2026-03-01T10:05:00Z", "2026-03-01T09:59:30Z"),
        ],
    )
    assert scenario.replay(events, out="defaults").outcomes() == {
        "A1": "suppressed",
        "A2": "forwarded",
    }
    shorter = scenario.replay(
        events, out="short", extra=["--window-minutes", "10", "--skew-tolerance-seconds", "60"]
    )
    assert shorter.outcomes() == {"A1": "forwarded", "A2": "suppressed"}
    others = scenario.replay(events, out="others", extra=["--manufacturers", "SECURE, EDMI"])
    assert others.outcomes() == {"A1": "forwarded", "A2": "forwarded"}
    assert others.activations[0]["reason"] == "manufacturer_not_listed"
    assert others.summary["run"]["config"]["manufacturers"] == ["SECURE", "EDMI"]


def test_empty_inventory_forwards_everything(scenario: Scenario) -> None:
    scenario.write_inventory()
    events = scenario.events(
        "e.jsonl", [act("2026-03-01T10:00:00Z"), ad1("A1", "2026-03-01T10:04:00Z")]
    )
    result = scenario.replay(events)
    assert result.outcomes() == {"A1": "forwarded"}
    assert result.forwarded[0]["network_operator"] == ""
    assert result.activations[0]["reason"] == "device_not_in_inventory"


# -- exit codes ---------------------------------------------------------------------------------


def test_missing_events_file_exits_2_with_one_line(scenario: Scenario) -> None:
    result = scenario.replay_process(scenario.root / "nope.jsonl")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: events file {scenario.root / 'nope.jsonl'} does not exist"
    ]
    assert not (scenario.root / "o").exists()


def test_directory_instead_of_a_file_exits_2(scenario: Scenario) -> None:
    result = scenario.replay_process(scenario.guid_list, inventory=scenario.root)
    assert result.returncode == 2
    assert "is not a regular file" in result.stderr


def test_usage_errors_exit_2(scenario: Scenario) -> None:
    assert run_cli("replay", "--out", "x").returncode == 2
    zero = scenario.replay_process(scenario.guid_list, extra=["--window-minutes", "0"])
    assert zero.returncode == 2


def test_unusable_inventory_header_exits_2(scenario: Scenario) -> None:
    scenario.inventory.write_text("id,type\n")
    result = scenario.replay_process(scenario.events("e.jsonl", [ad1("A1", "2026-03-01T10:04Z")]))
    assert result.returncode == 2
    assert "the header lacks column(s) device_id" in result.stderr


def test_an_inventory_line_that_is_not_utf8_is_rejected_and_the_rest_loads(
    scenario: Scenario,
) -> None:
    scenario.inventory.write_bytes(scenario.inventory.read_bytes() + b"\xff\xfe,ESME\n")
    result = scenario.replay_process(scenario.events("e.jsonl", [ad1("A1", "2026-03-01T10:04Z")]))
    assert result.returncode == 0, result.stderr
    rejected = Outputs(scenario.root / "o", "").rejected
    assert [(r["line"], r["error"][:24]) for r in rejected] == [(6, "the line is not UTF-8 te")]


def test_input_with_rejections_still_exits_0(scenario: Scenario) -> None:
    events = scenario.events("e.jsonl", ["not json", ad1("A1", "2026-03-01T10:04:00Z")])
    result = scenario.replay_process(events)
    assert result.returncode == 0, result.stderr


def test_a_second_writer_on_the_same_db_is_refused_with_a_clear_message(
    scenario: Scenario,
) -> None:
    from poagate.store import StoreError
    from poagate.store.sqlite import SqliteStore

    db = scenario.root / "locked.db"
    with (
        SqliteStore(db, schema="create"),
        pytest.raises(StoreError, match="in use by another poagate process"),
    ):
        SqliteStore(db, lock_wait_seconds=0.2)


# -- log export -------------------------------------------------------------------------------


def test_log_export_is_scoped_to_one_network_operator(scenario: Scenario) -> None:
    events = scenario.events(
        "e.jsonl",
        [
            act("2026-03-01T10:00:00Z"),
            act("2026-03-01T10:00:00Z", device=ESME_2, counter=7),
            ad1("L1", "2026-03-01T10:04:00Z"),
            ad1("W1", "2026-03-01T10:05:00Z", chf=CHF_2),
            ad1("L2", "2026-03-01T10:20:00Z"),
        ],
    )
    scenario.replay(events, db="state.db")

    csv_out = scenario.export("state.db", "--network-operator", "12", "--format", "csv")
    assert csv_out.exit_code == 0, csv_out.output
    lines = csv_out.stdout.strip().splitlines()
    assert lines[0].startswith("alert_id,chf_id,esme_id,mpan,network_operator,event_at")
    assert [line.split(",")[0] for line in lines[1:]] == ["L1", "L2"]

    def exported(*args: str) -> list[str]:
        result = scenario.export("state.db", "--format", "jsonl", *args)
        assert result.exit_code == 0, result.output
        return [orjson.loads(line)["alert_id"] for line in result.stdout.splitlines()]

    assert exported(
        "--network-operator", "21", "--from", "2026-03-01T10:00:00Z", "--to", "2026-03-01T11:00Z"
    ) == ["W1"]
    assert exported("--network-operator", "12", "--from", "2026-03-01T10:10:00Z") == ["L2"]
    assert exported("--network-operator", "23") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--network-operator", "1", "--format", "csv"], "two-digit distributor id"),
        (["--network-operator", "12", "--format", "xml"], "--format must be csv or jsonl"),
        (["--network-operator", "12", "--format", "csv", "--from", "noon"], "ISO-8601"),
        (
            [
                "--network-operator",
                "12",
                "--format",
                "csv",
                "--from",
                "2026-03-02T00:00Z",
                "--to",
                "2026-03-01T00:00Z",
            ],
            "--to must be after --from",
        ),
    ],
)
def test_log_export_usage_errors(scenario: Scenario, args: list[str], message: str) -> None:
    scenario.replay(scenario.events("e.jsonl", [ad1("A1", "2026-03-01T10:04:00Z")]), db="s.db")
    result = run_cli("log", "export", "--db", str(scenario.root / "s.db"), *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_log_export_without_a_database_says_so(tmp_path: Path) -> None:
    result = run_cli(
        "log",
        "export",
        "--db",
        str(tmp_path / "none.db"),
        "--network-operator",
        "12",
        "--format",
        "csv",
    )
    assert result.returncode == 2
    assert "there is no poagate store at" in result.stderr
    assert "poagate db init" in result.stderr
