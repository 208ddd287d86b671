"""spec §9 guards through ``poagate replay``: options, configuration file, outputs, resuming."""

from __future__ import annotations

from tests.helpers import CHF, CHF_2, ESME, ESME_2, mpan
from tests.replay_scenario import Scenario, act, ad1, whole_and_killed

LIT = [
    act("2026-03-01T10:00:00Z"),
    act("2026-03-01T10:00:00Z", device=ESME_2, counter=7),
    ad1("A1", "2026-03-01T10:04:00Z", "2026-03-01T10:01:00Z"),
    ad1("A2", "2026-03-01T10:05:00Z", "2026-03-01T10:02:00Z", chf=CHF_2),
    # ESME's site is back at 10:08; ESME_2's never shows a sign of life.
    {"type": "device_message", "device_id": ESME, "received_at": "2026-03-01T10:08:00Z"},
]
LATER = [{"type": "device_message", "device_id": CHF, "received_at": "2026-03-01T11:00:00Z"}]


def test_release_if_dark_releases_the_dark_site_only(scenario: Scenario) -> None:
    events = scenario.events("e.jsonl", LIT + LATER)
    result = scenario.replay(events, extra=["--release-after-minutes", "30"])
    entries = {e["alert_id"]: e for e in result.suppressed}
    assert entries["A1"]["released_at"] is None
    assert entries["A2"]["released_at"] == "2026-03-01T10:32:00Z"
    assert entries["A2"]["release_reason"] == "no_sign_of_life"
    [late] = result.forwarded
    assert late["alert_id"] == "A2"
    assert late["reason"] == "no_sign_of_life"
    assert late["decided_at"] == "2026-03-01T10:32:00Z"
    assert result.summary["ad1_released"] == 1
    assert result.summary["ad1_suppressed"] == 2  # a released entry stays in the log


def test_guards_are_off_unless_configured(scenario: Scenario) -> None:
    result = scenario.replay(scenario.events("e.jsonl", LIT + LATER))
    assert all(e["released_at"] is None for e in result.suppressed)
    assert result.forwarded == []
    assert result.summary["ad1_released"] == 0


def test_a_resumed_replay_releases_what_one_run_releases(scenario: Scenario) -> None:
    first = scenario.events("first.jsonl", LIT)
    second = scenario.events("second.jsonl", LATER)
    options = ["--release-after-minutes", "30"]
    whole = scenario.replay(first, second, out="whole", db="whole.db", extra=options)
    scenario.replay(first, out="parts", db="parts.db", extra=options)
    # The second run restores the pending entry from the store and releases it by its clock.
    parts = scenario.replay(first, second, out="parts", db="parts.db")
    assert parts.files_without_run_details() == whole.files_without_run_details()


def test_the_configuration_file_and_options_over_it(scenario: Scenario) -> None:
    config = scenario.root / "gate.toml"
    config.write_text("release_after_minutes = 30\narea_outage_threshold = 0\n")
    events = scenario.events("e.jsonl", LIT + LATER)
    from_file = scenario.replay(events, out="a", db="a.db", extra=["--config", str(config)])
    assert from_file.summary["ad1_released"] == 1
    overridden = scenario.replay(
        events,
        out="b",
        db="b.db",
        extra=["--config", str(config), "--release-after-minutes", "0"],
    )
    assert overridden.summary["ad1_released"] == 0


def test_a_bad_configuration_file_is_a_usage_error_that_names_the_setting(
    scenario: Scenario,
) -> None:
    config = scenario.root / "gate.toml"
    config.write_text("release_after = 30\n")
    result = scenario.replay_process(
        scenario.events("e.jsonl", LIT), extra=["--config", str(config)]
    )
    assert result.returncode == 2
    assert "unknown setting release_after" in result.stderr
    config.write_text("release_after_minutes = 'soon'\n")
    result = scenario.replay_process(
        scenario.events("e.jsonl", LIT), extra=["--config", str(config)]
    )
    assert result.returncode == 2
    assert "release_after_minutes must be a whole number" in result.stderr


# -- gaps the property tests found, mended ------------------------------------------------------


def test_a_sign_of_life_exactly_m_minutes_after_event_at_is_in_time(scenario: Scenario) -> None:
    # spec §9 "within that many minutes"; docs/decisions.md: exactly event_at + M is in time.
    sign = {"type": "device_message", "device_id": ESME, "received_at": "2026-03-01T10:32:00Z"}
    events = scenario.events(
        "e.jsonl",
        [
            act("2026-03-01T10:00:00Z"),
            ad1("A1", "2026-03-01T10:05:00Z", "2026-03-01T10:02:00Z"),
            sign,
        ],
    )
    result = scenario.replay(events, extra=["--release-after-minutes", "30"])
    [entry] = result.suppressed
    assert entry["released_at"] is None
    assert result.forwarded == []


def test_a_crash_after_an_area_outage_forward_keeps_its_release(scenario: Scenario) -> None:
    # spec §8: a crash part-way, then the same command again, gives an uninterrupted run's
    # outcomes. A1 is suppressed in ESME's window; B1, forwarded from CHF_2 of the same sector
    # (threshold 1), releases it; the crash comes after the batch of those three events.
    scenario.write_inventory(
        f"{ESME},ESME,SMETS2,LANDIS+GYR,E470,{CHF},{mpan('12')},,SW1A 1AA",
        f"{ESME_2},ESME,SMETS2,LANDIS+GYR,E470,{CHF_2},{mpan('21')},,SW1A 1AB",
    )
    events = scenario.events(
        "e.jsonl",
        [
            act("2026-03-01T10:00:00Z"),
            ad1("A1", "2026-03-01T10:05:00Z"),
            ad1("B1", "2026-03-01T10:06:00Z", chf=CHF_2),
            {"type": "device_message", "device_id": ESME, "received_at": "2026-03-01T10:07:00Z"},
        ],
    )

    # Killed while writing the second batch (the reference data loads on its own).
    whole, crashed, resumed = whole_and_killed(
        scenario,
        [events],
        writes=1,
        area_outage_threshold=1,
        area_outage_seconds=900,
        batch_size=3,
    )
    assert whole.outcomes() == {"A1": "released", "B1": "forwarded"}
    assert resumed["run"]["events_already_applied"] == 3
    assert crashed.files_without_run_details() == whole.files_without_run_details()
