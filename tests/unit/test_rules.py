"""spec §5: one test per rule and edge, against the gate with exact timestamps."""

from __future__ import annotations

from dataclasses import replace

import pytest

from poagate.domain.events import ActivationKind
from poagate.domain.outcomes import (
    ActivationApplied,
    DuplicateAlert,
    ForwardedAlert,
    Status,
    SuppressionEntry,
)
from poagate.domain.reference import Config, Inventory, SmetsVersion
from poagate.domain.rules import Reason
from tests.helpers import (
    CHF,
    CHF_2,
    ESME,
    ESME_2,
    USER,
    activation,
    ad1,
    cancellation,
    esme,
    gate,
    guid_list,
    hub,
    message,
    outcome,
    ts,
)

# -- R1: eligibility --------------------------------------------------------------------------


def reason_of(g, event) -> Reason:  # type: ignore[no-untyped-def]
    applied = g.activate(event)
    return applied.records[0].reason


def test_eligible_activation_opens_a_window_for_the_esmes_chf() -> None:
    g = gate()
    record = g.activate(activation("2026-03-01T10:00:00Z")).records[0]
    assert record.reason is Reason.ELIGIBLE
    assert record.chf_id == CHF
    assert record.window_start == ts("2026-03-01T10:00:00Z")
    assert record.window_end == ts("2026-03-01T10:30:00Z")
    assert record.guid_list_version == 1


def test_device_not_in_inventory() -> None:
    g = gate()
    assert reason_of(g, activation("2026-03-01T10:00:00Z", device=ESME_2)) is (
        Reason.DEVICE_NOT_IN_INVENTORY
    )


def test_not_esme_when_the_target_is_a_hub() -> None:
    g = gate(esme(), hub(), guid=guid_list(ESME, CHF))
    assert reason_of(g, activation("2026-03-01T10:00:00Z", device=CHF)) is Reason.NOT_ESME


def test_not_smets2() -> None:
    g = gate(esme(smets=SmetsVersion.SMETS1), hub())
    assert reason_of(g, activation("2026-03-01T10:00:00Z")) is Reason.NOT_SMETS2


def test_manufacturer_not_listed() -> None:
    g = gate(esme(manufacturer="SECURE"), hub())
    assert reason_of(g, activation("2026-03-01T10:00:00Z")) is Reason.MANUFACTURER_NOT_LISTED


def test_not_on_guid_list() -> None:
    g = gate(esme(), hub(), guid=guid_list(ESME_2))
    assert reason_of(g, activation("2026-03-01T10:00:00Z")) is Reason.NOT_ON_GUID_LIST


def test_no_chf_association() -> None:
    g = gate(esme(chf_id=None))
    assert reason_of(g, activation("2026-03-01T10:00:00Z")) is Reason.NO_CHF_ASSOCIATION


def test_reason_codes_come_in_the_spec_order() -> None:
    # A SMETS1 meter of another maker, off the GUID list, without a hub: not_smets2 comes first.
    g = gate(esme(smets=SmetsVersion.SMETS1, manufacturer="SECURE", chf_id=None), guid=guid_list())
    assert reason_of(g, activation("2026-03-01T10:00:00Z")) is Reason.NOT_SMETS2
    # Of another maker, off the list, without a hub: the manufacturer is judged before the list.
    g = gate(esme(manufacturer="SECURE", chf_id=None), guid=guid_list())
    assert reason_of(g, activation("2026-03-01T10:00:00Z")) is Reason.MANUFACTURER_NOT_LISTED
    # Off the list and without a hub: the list is judged before the hub.
    g = gate(esme(chf_id=None), guid=guid_list())
    assert reason_of(g, activation("2026-03-01T10:00:00Z")) is Reason.NOT_ON_GUID_LIST


@pytest.mark.parametrize("spelling", ["Landis+Gyr", "landis+gyr", "  LANDIS+GYR ", "LaNdIs+GyR"])
def test_manufacturer_is_compared_case_insensitively_and_trimmed(spelling: str) -> None:
    g = gate(esme(manufacturer=spelling), hub())
    assert reason_of(g, activation("2026-03-01T10:00:00Z")) is Reason.ELIGIBLE


def test_configured_manufacturers_replace_the_default() -> None:
    config = Config(manufacturers=("SECURE", " edmi "))
    assert (
        reason_of(
            gate(esme(manufacturer="Secure"), hub(), config=config), activation("2026-03-01T10:00Z")
        )
        is Reason.ELIGIBLE
    )
    assert (
        reason_of(
            gate(esme(manufacturer="EDMI"), hub(), config=config), activation("2026-03-01T10:00Z")
        )
        is Reason.ELIGIBLE
    )
    assert reason_of(gate(config=config), activation("2026-03-01T10:00Z")) is (
        Reason.MANUFACTURER_NOT_LISTED
    )


def test_eligibility_and_chf_are_fixed_when_the_request_id_is_first_seen() -> None:
    g = gate()
    g.activate(activation("2026-03-01T10:00:00Z"))
    # A CH exchange after the activation moves the ESME to another hub.
    g.inventory.upsert(esme(chf_id=CHF_2))
    assert isinstance(
        g.decide_ad1(ad1("A1", "2026-03-01T10:05:00Z"), ts("2026-03-01T10:05Z")), SuppressionEntry
    )
    assert isinstance(
        g.decide_ad1(ad1("A2", "2026-03-01T10:05:00Z", chf=CHF_2), ts("2026-03-01T10:05Z")),
        ForwardedAlert,
    )


def test_activation_records_the_guid_list_version_in_force_when_first_seen() -> None:
    g = gate(guid=guid_list(ESME, number=7))
    record = g.activate(activation("2026-03-01T10:00:00Z")).records[0]
    g.guid_list = guid_list(ESME, number=8)
    g.activate(activation("2026-03-01T10:10:00Z"))  # a repeat: nothing is judged again
    assert record.guid_list_version == 7


def test_ineligible_activation_opens_no_window() -> None:
    g = gate(esme(manufacturer="SECURE"), hub())
    record = g.activate(activation("2026-03-01T10:00:00Z")).records[0]
    assert record.window_start is None
    assert record.window_end is None
    decision = g.decide_ad1(ad1("A1", "2026-03-01T10:05:00Z"), ts("2026-03-01T10:05:00Z"))
    assert isinstance(decision, ForwardedAlert)


# -- R2 and R5: windows and the AD1 decision -------------------------------------------------


def decide(g, alert_id: str, received: str, event: str | None = None, chf: str = CHF):  # type: ignore[no-untyped-def]
    return g.decide_ad1(ad1(alert_id, received, event, chf), ts(received))


@pytest.mark.parametrize(
    ("event_at", "suppressed"),
    [
        ("2026-03-01T09:59:59.999Z", False),  # one millisecond before the start
        ("2026-03-01T10:00:00Z", True),  # the start
        ("2026-03-01T10:29:59.999Z", True),  # end − 1 ms
        ("2026-03-01T10:30:00Z", False),  # the end is outside
    ],
)
def test_immediate_window_contains_start_and_excludes_end(event_at: str, suppressed: bool) -> None:
    g = gate()
    g.activate(activation("2026-03-01T10:00:00Z"))
    decision = decide(g, "A1", "2026-03-01T10:40:00Z", event_at)
    assert isinstance(decision, SuppressionEntry) is suppressed


def test_future_dated_window_runs_from_execution_time() -> None:
    g = gate()
    g.activate(activation("2026-03-01T09:00:00Z", execution="2026-03-02T02:00:00Z"))
    assert isinstance(decide(g, "A1", "2026-03-01T09:05:00Z"), ForwardedAlert)
    assert isinstance(
        decide(g, "A2", "2026-03-02T02:04:00Z", "2026-03-02T02:01:00Z"), SuppressionEntry
    )
    assert isinstance(
        decide(g, "A3", "2026-03-02T02:34:00Z", "2026-03-02T02:30:00Z"), ForwardedAlert
    )


@pytest.mark.parametrize(
    ("event_at", "suppressed"),
    [
        ("2026-03-01T09:58:59.999Z", False),  # skew + 1 ms before the start
        ("2026-03-01T09:59:00Z", True),  # exactly the skew tolerance before the start
        ("2026-03-01T09:59:30Z", True),
    ],
)
def test_skew_tolerance_lets_an_outage_just_before_the_start_match(
    event_at: str, suppressed: bool
) -> None:
    g = gate(config=Config(skew_tolerance_seconds=60))
    g.activate(activation("2026-03-01T10:00:00Z"))
    assert isinstance(decide(g, "A1", "2026-03-01T10:05:00Z", event_at), SuppressionEntry) is (
        suppressed
    )


def test_skew_tolerance_does_not_move_the_end() -> None:
    g = gate(config=Config(skew_tolerance_seconds=60))
    g.activate(activation("2026-03-01T10:00:00Z"))
    assert isinstance(
        decide(g, "A1", "2026-03-01T10:35:00Z", "2026-03-01T10:30:00Z"), ForwardedAlert
    )


def test_missing_event_at_uses_received_at() -> None:
    g = gate()
    g.activate(activation("2026-03-01T10:00:00Z"))
    inside = decide(g, "A1", "2026-03-01T10:04:00Z")
    outside = decide(g, "A2", "2026-03-01T10:31:00Z")
    assert isinstance(inside, SuppressionEntry)
    assert inside.event_at == ts("2026-03-01T10:04:00Z")
    assert isinstance(outside, ForwardedAlert)


def test_window_length_follows_configuration() -> None:
    g = gate(config=Config(window_minutes=10))
    g.activate(activation("2026-03-01T10:00:00Z"))
    assert isinstance(
        decide(g, "A1", "2026-03-01T10:12:00Z", "2026-03-01T10:09:59Z"), SuppressionEntry
    )
    assert isinstance(
        decide(g, "A2", "2026-03-01T10:12:00Z", "2026-03-01T10:10:00Z"), ForwardedAlert
    )


def test_repeat_of_an_immediate_request_id_extends_its_window() -> None:
    g = gate()
    g.activate(activation("2026-03-01T10:00:00Z", variant=5))  # signed pre-command
    applied = g.activate(activation("2026-03-01T10:20:00Z", variant=4))  # the command itself
    assert applied.repeat
    record = applied.records[0]
    assert record.window_start == ts("2026-03-01T10:00:00Z")
    assert record.window_end == ts("2026-03-01T10:50:00Z")
    assert record.repeats == 1
    assert isinstance(
        decide(g, "A1", "2026-03-01T10:45:00Z", "2026-03-01T10:40:00Z"), SuppressionEntry
    )


def test_dsp_retry_extends_and_an_earlier_repeat_does_not_shorten() -> None:
    g = gate()
    g.activate(activation("2026-03-01T10:00:00Z"))
    g.activate(activation("2026-03-01T10:25:00Z"))
    record = g.activate(activation("2026-03-01T10:05:00Z")).records[0]
    assert record.window_end == ts("2026-03-01T10:55:00Z")


def test_log_entry_keeps_the_window_as_it_stood_at_the_decision() -> None:
    g = gate()
    g.activate(activation("2026-03-01T10:00:00Z"))
    early = decide(g, "A1", "2026-03-01T10:05:00Z", "2026-03-01T10:01:00Z")
    g.activate(activation("2026-03-01T10:20:00Z"))
    late = decide(g, "A2", "2026-03-01T10:45:00Z", "2026-03-01T10:40:00Z")
    assert isinstance(early, SuppressionEntry)
    assert isinstance(late, SuppressionEntry)
    assert early.window_end == ts("2026-03-01T10:30:00Z")
    assert late.window_end == ts("2026-03-01T10:50:00Z")


def test_repeat_of_a_future_dated_request_id_changes_nothing() -> None:
    g = gate()
    first = g.activate(activation("2026-03-01T09:00:00Z", execution="2026-03-02T02:00:00Z"))
    # The first event fixes execution_at; a repeat with another one is still a repeat.
    again = g.activate(activation("2026-03-01T09:30:00Z", execution="2026-03-02T05:00:00Z"))
    record = again.records[0]
    assert record is first.records[0]
    assert record.execution_at == ts("2026-03-02T02:00:00Z")
    assert record.window_end == ts("2026-03-02T02:30:00Z")
    assert record.kind is ActivationKind.FUTURE_DATED


def test_later_starting_window_is_named_when_several_match() -> None:
    g = gate()
    g.activate(activation("2026-03-01T10:00:00Z", counter=1))
    g.activate(activation("2026-03-01T10:10:00Z", counter=2))
    entry = decide(g, "A1", "2026-03-01T10:15:00Z", "2026-03-01T10:12:00Z")
    assert isinstance(entry, SuppressionEntry)
    assert entry.activation_request_id == f"{USER}:{ESME}:2"
    assert entry.window_start == ts("2026-03-01T10:10:00Z")


def test_windows_starting_together_name_the_smallest_request_id_as_text() -> None:
    g = gate()
    # As text "…:10" < "…:9" although 10 > 9.
    g.activate(activation("2026-03-01T10:00:00Z", counter=9))
    g.activate(activation("2026-03-01T10:00:00Z", counter=10))
    entry = decide(g, "A1", "2026-03-01T10:05:00Z")
    assert isinstance(entry, SuppressionEntry)
    assert entry.activation_request_id == f"{USER}:{ESME}:10"


def test_suppression_entry_carries_the_activation_and_its_esme() -> None:
    g = gate(esme(operator="14"), hub())
    g.activate(activation("2026-03-01T10:00:00Z"))
    entry = decide(g, "A1", "2026-03-01T10:04:00Z", "2026-03-01T10:01:00Z")
    assert isinstance(entry, SuppressionEntry)
    assert (entry.alert_id, entry.chf_id, entry.esme_id) == ("A1", CHF, ESME)
    assert entry.network_operator == "14"
    assert entry.mpan is not None
    assert entry.mpan.startswith("14")
    assert entry.activation_originator == USER
    assert entry.rule == "firmware_activation_window"
    assert entry.decided_at == ts("2026-03-01T10:04:00Z")
    assert entry.released_at is None
    assert entry.release_reason is None


# -- R3: supersede --------------------------------------------------------------------------


def test_new_future_dated_activation_supersedes_the_pending_one() -> None:
    g = gate()
    first = g.activate(
        activation("2026-03-01T09:00:00Z", counter=1, execution="2026-03-02T02:00:00Z")
    ).records[0]
    applied = g.activate(
        activation("2026-03-01T12:00:00Z", counter=2, execution="2026-03-02T04:00:00Z")
    )
    assert first.status is Status.SUPERSEDED
    assert first in applied.records  # reported as changed
    assert isinstance(
        decide(g, "A1", "2026-03-02T02:05:00Z", "2026-03-02T02:01:00Z"), ForwardedAlert
    )
    assert isinstance(
        decide(g, "A2", "2026-03-02T04:05:00Z", "2026-03-02T04:01:00Z"), SuppressionEntry
    )


def test_supersede_leaves_a_pending_activation_whose_execution_has_passed() -> None:
    g = gate()
    first = g.activate(
        activation("2026-03-01T09:00:00Z", counter=1, execution="2026-03-01T11:00:00Z")
    ).records[0]
    g.activate(activation("2026-03-01T11:00:00Z", counter=2, execution="2026-03-02T04:00:00Z"))
    assert first.status is Status.ACTIVE  # execution_at is not after the new received_at


def test_supersede_applies_to_ineligible_activations_too() -> None:
    g = gate(esme(manufacturer="SECURE"), hub())
    first = g.activate(
        activation("2026-03-01T09:00:00Z", counter=1, execution="2026-03-02T02:00:00Z")
    ).records[0]
    g.activate(activation("2026-03-01T10:00:00Z", counter=2, execution="2026-03-02T03:00:00Z"))
    assert first.reason is Reason.MANUFACTURER_NOT_LISTED
    assert first.status is Status.SUPERSEDED


def test_immediate_activation_does_not_supersede() -> None:
    g = gate()
    first = g.activate(
        activation("2026-03-01T09:00:00Z", counter=1, execution="2026-03-02T02:00:00Z")
    ).records[0]
    g.activate(activation("2026-03-01T10:00:00Z", counter=2))
    assert first.status is Status.ACTIVE


def test_supersede_is_per_device() -> None:
    g = gate(esme(), hub(), esme(ESME_2, CHF_2), hub(CHF_2))
    first = g.activate(
        activation("2026-03-01T09:00:00Z", counter=1, execution="2026-03-02T02:00:00Z")
    ).records[0]
    g.activate(
        activation(
            "2026-03-01T10:00:00Z", device=ESME_2, counter=2, execution="2026-03-02T03:00:00Z"
        )
    )
    assert first.status is Status.ACTIVE


# -- R4: cancellation -----------------------------------------------------------------------


def test_cancellation_before_the_window_starts_cancels_it() -> None:
    g = gate()
    pending = g.activate(activation("2026-03-01T09:00:00Z", execution="2026-03-02T02:00:00Z"))
    applied = g.activate(cancellation("2026-03-01T18:00:00Z"))
    record = applied.records[0]
    assert record.kind is ActivationKind.CANCELLATION
    assert record.reason is Reason.CANCELLATION
    assert record.status is Status.ACTIVE
    assert record.window_start is None
    assert pending.records[0].status is Status.CANCELLED
    assert isinstance(
        decide(g, "A1", "2026-03-02T02:05:00Z", "2026-03-02T02:01:00Z"), ForwardedAlert
    )


def test_cancellation_after_window_start_has_no_effect() -> None:
    g = gate()
    pending = g.activate(activation("2026-03-01T09:00:00Z", execution="2026-03-02T02:00:00Z"))
    g.activate(cancellation("2026-03-02T02:10:00Z"))
    assert pending.records[0].status is Status.ACTIVE
    assert isinstance(
        decide(g, "A1", "2026-03-02T02:15:00Z", "2026-03-02T02:12:00Z"), SuppressionEntry
    )


def test_cancellation_at_the_execution_instant_has_no_effect() -> None:
    g = gate()
    pending = g.activate(activation("2026-03-01T09:00:00Z", execution="2026-03-02T02:00:00Z"))
    g.activate(cancellation("2026-03-02T02:00:00Z"))
    assert pending.records[0].status is Status.ACTIVE


def test_cancellation_leaves_immediate_windows_alone() -> None:
    g = gate()
    g.activate(activation("2026-03-01T10:00:00Z"))
    g.activate(cancellation("2026-03-01T10:01:00Z"))
    assert isinstance(decide(g, "A1", "2026-03-01T10:05:00Z"), SuppressionEntry)


def test_cancelled_activation_is_not_superseded_afterwards() -> None:
    g = gate()
    pending = g.activate(
        activation("2026-03-01T09:00:00Z", counter=1, execution="2026-03-02T02:00:00Z")
    ).records[0]
    g.activate(cancellation("2026-03-01T10:00:00Z"))
    g.activate(activation("2026-03-01T11:00:00Z", counter=3, execution="2026-03-02T03:00:00Z"))
    assert pending.status is Status.CANCELLED


def test_cancellation_of_an_unknown_device_is_recorded() -> None:
    g = gate()
    record = g.activate(cancellation("2026-03-01T10:00:00Z", device=ESME_2)).records[0]
    assert record.reason is Reason.CANCELLATION
    assert record.chf_id is None


# -- R6, R7, R8, R9 -----------------------------------------------------------------------


def test_repeated_alert_id_is_a_duplicate_and_changes_nothing() -> None:
    g = gate()
    g.activate(activation("2026-03-01T10:00:00Z"))
    first = decide(g, "A1", "2026-03-01T10:04:00Z")
    # The repeat would fall outside the window: it is still only a duplicate.
    again = decide(g, "A1", "2026-03-01T11:00:00Z")
    assert isinstance(first, SuppressionEntry)
    assert isinstance(again, DuplicateAlert)
    assert g.is_decided("A1")


def test_unknown_chf_is_forwarded_with_no_network_operator() -> None:
    g = gate()
    decision = decide(g, "A1", "2026-03-01T10:04:00Z", chf="00-11-22-33-44-55-66-77")
    assert isinstance(decision, ForwardedAlert)
    assert decision.network_operator == ""
    assert decision.reason == "no_active_window"


def test_empty_inventory_forwards_everything() -> None:
    from poagate.domain.gate import Gate

    g = Gate(Inventory())
    assert reason_of(g, activation("2026-03-01T10:00:00Z")) is Reason.DEVICE_NOT_IN_INVENTORY
    assert isinstance(decide(g, "A1", "2026-03-01T10:04:00Z"), ForwardedAlert)


def test_forwarded_alert_is_routed_to_the_dno_of_the_smallest_esme_on_the_hub() -> None:
    g = gate(esme(ESME_2, CHF, operator="19"), esme(ESME, CHF, operator="12"), hub())
    decision = decide(g, "A1", "2026-03-01T10:04:00Z")
    assert isinstance(decision, ForwardedAlert)
    assert decision.network_operator == "12"  # ESME (…A0) < ESME_2 (…A1)


def test_forwarded_routing_follows_a_hub_exchange() -> None:
    g = gate(esme(operator="12"), hub())
    assert decide(g, "A1", "2026-03-01T10:04:00Z").network_operator == "12"
    g.inventory.upsert(esme(chf_id=CHF_2, operator="12"))
    assert decide(g, "A2", "2026-03-01T10:05:00Z").network_operator == ""
    assert decide(g, "A3", "2026-03-01T10:05:00Z", chf=CHF_2).network_operator == "12"


def test_outcomes_and_device_messages_are_recorded_and_change_no_decision() -> None:
    g = gate()
    g.activate(activation("2026-03-01T10:00:00Z"))
    recorded = g.apply(outcome("2026-03-01T10:02:00Z", success=False), ts("2026-03-01T10:02Z"))
    seen = g.apply(message("2026-03-01T10:03:00Z"), ts("2026-03-01T10:03Z"))
    assert recorded.success is False  # type: ignore[union-attr]
    assert seen.device_id == ESME  # type: ignore[union-attr]
    assert isinstance(decide(g, "A1", "2026-03-01T10:04:00Z"), SuppressionEntry)


def test_restored_gate_decides_as_the_original_would() -> None:
    g = gate()
    g.activate(activation("2026-03-01T10:00:00Z"))
    g.activate(activation("2026-03-01T09:00:00Z", counter=5, execution="2026-03-02T02:00:00Z"))
    decide(g, "A1", "2026-03-01T10:04:00Z")
    records = [replace(r) for r in g.activation_records()]
    restored = gate()
    restored.restore(records, ["A1"])
    assert isinstance(decide(restored, "A1", "2026-03-01T10:05:00Z"), DuplicateAlert)
    assert isinstance(decide(restored, "A2", "2026-03-01T10:05:00Z"), SuppressionEntry)
    # R3 still sees the restored pending activation.
    restored.activate(
        activation("2026-03-01T11:00:00Z", counter=6, execution="2026-03-02T03:00:00Z")
    )
    assert restored.activation(f"{USER}:{ESME}:5").status is Status.SUPERSEDED  # type: ignore[union-attr]


def test_apply_returns_the_records_an_activation_changed() -> None:
    g = gate()
    applied = g.apply(activation("2026-03-01T10:00:00Z"), ts("2026-03-01T10:00:00Z"))
    assert isinstance(applied, ActivationApplied)
    assert [r.request_id for r in applied.records] == [f"{USER}:{ESME}:1000"]
