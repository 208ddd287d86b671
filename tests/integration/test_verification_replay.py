"""spec §14 through ``poagate replay``: options, ``verifications.jsonl``, releases in the usual
outputs, and resuming after a crash between a request and its answer."""

from __future__ import annotations

import pytest

from tests.helpers import CHF, CHF_2, ESME, ESME_2
from tests.replay_scenario import Scenario, act, ad1, whole_and_killed

VERIFY = ["--verify-after-minutes", "10", "--verify-timeout-minutes", "3", "--verify-attempts", "2"]
# A1 (ESME's hub, event 10:01) is asked about at 10:11; its hub answers at 10:13. A2 (ESME_2's
# hub, event 10:02) is asked at 10:12 and 10:15, and released at 10:18. A device message of
# ESME_2's at 10:20 comes too late.
EVENTS = [
    act("2026-03-01T10:00:00Z"),
    act("2026-03-01T10:00:00Z", device=ESME_2, counter=7),
    ad1("A1", "2026-03-01T10:04:00Z", "2026-03-01T10:01:00Z"),
    ad1("A2", "2026-03-01T10:05:00Z", "2026-03-01T10:02:00Z", chf=CHF_2),
    {"type": "device_message", "device_id": CHF, "received_at": "2026-03-01T10:13:00Z"},
    {"type": "device_message", "device_id": ESME_2, "received_at": "2026-03-01T10:20:00Z"},
]


def test_verifications_are_written_and_the_silent_site_released(scenario: Scenario) -> None:
    result = scenario.replay(scenario.events("e.jsonl", EVENTS), extra=VERIFY)
    assert result.outcomes() == {"A1": "suppressed", "A2": "released"}
    entry = {e["alert_id"]: e for e in result.suppressed}["A2"]
    assert (entry["released_at"], entry["release_reason"]) == (
        "2026-03-01T10:18:00Z",
        "no_answer_to_verification",
    )
    assert [
        (v["alert_id"], v["attempt"], v["requested_at"], v["settled_at"], v["outcome"])
        for v in result.verifications
    ] == [
        ("A1", 1, "2026-03-01T10:11:00Z", "2026-03-01T10:13:00Z", "answered"),
        ("A2", 1, "2026-03-01T10:12:00Z", "2026-03-01T10:15:00Z", "expired"),
        ("A2", 2, "2026-03-01T10:15:00Z", "2026-03-01T10:18:00Z", "no_answer"),
    ]
    first = result.verifications[0]
    assert (first["chf_id"], first["esme_id"], first["deadline"]) == (
        CHF,
        ESME,
        "2026-03-01T10:14:00Z",
    )
    summary = result.summary
    assert summary["ad1_released"] == 1
    assert summary["verifications_requested"] == 3
    assert summary["verifications_answered"] == 1


def test_an_answer_from_another_device_of_the_site_is_a_sign_of_life(scenario: Scenario) -> None:
    # The site answers through a gas meter joined to CHF_2, a device no activation names: the
    # replay must map it to its hub with the verification guard alone on (it once did so only
    # with release-if-dark on, and released A2 as silent).
    gas_meter = "00-DB-12-34-56-78-90-B1"
    scenario.write_inventory(
        *scenario.inventory.read_text().splitlines()[1:],
        f"{gas_meter},GSME,SMETS2,SECURE,,{CHF_2},,,CF10 1AA",
    )
    events = [
        *EVENTS[:5],
        {"type": "device_message", "device_id": gas_meter, "received_at": "2026-03-01T10:16:00Z"},
    ]
    result = scenario.replay(scenario.events("e.jsonl", events), extra=VERIFY)
    assert result.outcomes() == {"A1": "suppressed", "A2": "suppressed"}
    assert [(v["alert_id"], v["attempt"], v["outcome"]) for v in result.verifications] == [
        ("A1", 1, "answered"),
        ("A2", 1, "expired"),
        ("A2", 2, "answered"),
    ]


def test_without_the_option_nothing_is_asked(scenario: Scenario) -> None:
    result = scenario.replay(scenario.events("e.jsonl", EVENTS))
    assert result.verifications == []
    assert result.outcomes() == {"A1": "suppressed", "A2": "suppressed"}


def test_the_configuration_file_switches_it_on(scenario: Scenario) -> None:
    config = scenario.root / "gate.toml"
    config.write_text("verify_after_minutes = 10\nverify_timeout_minutes = 3\n")
    result = scenario.replay(scenario.events("e.jsonl", EVENTS), extra=["--config", str(config)])
    assert result.outcomes() == {"A1": "suppressed", "A2": "released"}


@pytest.mark.parametrize("crash_after", [1, 2, 3])
def test_a_crash_between_request_and_answer_resumes_to_the_same_outcomes(
    scenario: Scenario, crash_after: int
) -> None:
    # Batches of two events: the requests of 10:11 and 10:12 are sent while the device
    # message of 10:13 is read, so a crash after the second or third batch falls between a
    # request and its answer.
    whole, crashed, resumed = whole_and_killed(
        scenario,
        [scenario.events("e.jsonl", EVENTS)],
        writes=crash_after,  # the batches (the reference data loads on its own)
        verify_after_minutes=10,
        verify_timeout_minutes=3,
        verify_attempts=2,
        batch_size=2,
    )
    assert resumed["run"]["events_already_applied"] == 2 * crash_after
    assert crashed.files_without_run_details() == whole.files_without_run_details()
    assert len(whole.verifications) == 3
