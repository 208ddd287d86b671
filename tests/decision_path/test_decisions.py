"""Deciding groups of messages (spec §5–§7, R6): what a group's transaction stores and queues."""

from __future__ import annotations

from poagate.domain.events import Ad1Alert
from poagate.domain.outcomes import (
    ActivationApplied,
    DuplicateAlert,
    ForwardedAlert,
    SuppressionEntry,
)
from tests.decision_path.conftest import Backend, activation, ad1
from tests.helpers import ts


def test_an_ad1_inside_a_window_is_suppressed_and_its_message_held(backend: Backend) -> None:
    (applied,) = backend.decide(activation(0, "2026-03-01T10:00:00Z"), at="2026-03-01T10:00:00Z")
    assert type(applied) is ActivationApplied
    (outcome,) = backend.decide(ad1("A1", 0, "2026-03-01T10:05:00Z"), at="2026-03-01T10:05:00Z")
    assert type(outcome) is SuppressionEntry
    assert outcome.rule == "firmware_activation_window"
    assert backend.seen.entry("A1") == outcome
    # A guard or an operator may still release it: its message waits, held, for its DNO.
    assert backend.seen.message("A1") == ("held", ts("2026-03-01T10:05:00Z"))
    assert backend.seen.feed() == []


def test_an_ad1_outside_any_window_is_forwarded_and_due_at_once(backend: Backend) -> None:
    (outcome,) = backend.decide(ad1("F1", 1, "2026-03-01T10:05:00Z"), at="2026-03-01T10:05:02Z")
    assert type(outcome) is ForwardedAlert
    assert outcome.reason == "no_active_window"
    assert outcome.network_operator == "11"  # R8: the hub's ESME's
    assert backend.seen.entry("F1") == outcome
    assert backend.seen.message("F1") == ("pending", ts("2026-03-01T10:05:02Z"))
    assert backend.seen.feed() == ["F1"]


def test_a_repeated_alert_id_is_a_duplicate_across_groups(backend: Backend) -> None:
    (first,) = backend.decide(ad1("A1", 1, "2026-03-01T10:05:00Z"), at="2026-03-01T10:05:00Z")
    backend.decide(activation(1, "2026-03-01T10:06:00Z"), at="2026-03-01T10:06:00Z")
    # The same alert again, now inside a window: R6 keeps the first outcome.
    (again,) = backend.decide(ad1("A1", 1, "2026-03-01T10:07:00Z"), at="2026-03-01T10:07:00Z")
    assert type(again) is DuplicateAlert
    assert backend.seen.entry("A1") == first
    assert backend.seen.feed() == ["A1"]


def test_a_group_decides_its_items_in_order_and_the_feed_keeps_that_order(
    backend: Backend,
) -> None:
    outcomes = backend.decide(
        ad1("F1", 1, "2026-03-01T10:00:00Z"),
        activation(0, "2026-03-01T10:00:00Z"),
        ad1("S1", 0, "2026-03-01T10:01:00Z"),  # inside the window the item before opened
        ad1("F2", 2, "2026-03-01T10:01:00Z"),
        at="2026-03-01T10:02:00Z",
    )
    assert [type(o) for o in outcomes] == [
        ForwardedAlert,
        ActivationApplied,
        SuppressionEntry,
        ForwardedAlert,
    ]
    backend.decide(ad1("F3", 3, "2026-03-01T10:03:00Z"), at="2026-03-01T10:03:00Z")
    assert backend.seen.feed() == ["F1", "F2", "F3"]


def test_an_ad1_of_a_hub_the_inventory_does_not_know_reaches_no_dno(backend: Backend) -> None:
    unknown = Ad1Alert("U1", "00-DB-12-34-56-78-FF-C0", ts("2026-03-01T10:05:00Z"))
    (outcome,) = backend.decide(unknown, at="2026-03-01T10:05:00Z")
    assert type(outcome) is ForwardedAlert
    assert outcome.network_operator == ""  # R8: no ESME is known for the hub
    assert backend.seen.feed() == ["U1"]
    assert backend.seen.message("U1") is None  # no DNO's webhook to queue it for
