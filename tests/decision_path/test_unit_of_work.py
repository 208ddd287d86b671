"""The unit of work every store gives the decision path: all of it written when it ends, none
of it when it fails, R6 under the code, and a release that edits only an entry still waiting."""

from __future__ import annotations

from dataclasses import replace

import pytest

from poagate.domain.outcomes import ForwardedAlert, SuppressionEntry
from poagate.store.outbox import OutboundMessage
from tests.decision_path.conftest import Backend, activation, ad1, chf_of
from tests.helpers import ts


def forwarded(alert_id: str) -> ForwardedAlert:
    at = ts("2026-03-01T10:05:00Z")
    return ForwardedAlert(alert_id, chf_of(1), "11", at, at, at, "no_active_window")


def queued(alert_id: str) -> OutboundMessage:
    return OutboundMessage(alert_id, "11", chf_of(1), "application/json", b"{}", "pending")


def test_a_unit_that_fails_writes_nothing(backend: Backend) -> None:
    def fail_half_way() -> None:
        with backend.store.deciding() as unit:
            unit.add(forwarded("F1"))
            unit.enqueue([queued("F1")], ts("2026-03-01T10:05:00Z"))
            unit.set_meta("a_watermark", "7")
            unit.flush()  # even what was written before the failure goes
            raise RuntimeError("half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        fail_half_way()
    assert backend.seen.entry("F1") is None
    assert backend.seen.message("F1") is None
    assert backend.seen.meta("a_watermark") is None
    assert backend.seen.feed() == []


def test_the_store_refuses_a_second_outcome_for_an_alert_id(backend: Backend) -> None:
    with backend.store.deciding() as unit:
        unit.add(forwarded("F1"))

    def decide_again() -> None:
        with backend.store.deciding() as unit:
            unit.add(forwarded("F2"))
            unit.add(forwarded("F1"))  # R6: a bug upstream, stopped by the store

    with pytest.raises(backend.refusal):
        decide_again()
    assert backend.seen.entry("F2") is None
    assert backend.seen.feed() == ["F1"]


def test_a_unit_writes_what_it_collected_in_order_when_it_ends(backend: Backend) -> None:
    with backend.store.deciding() as unit:
        unit.add(forwarded("F1"))
        unit.add(forwarded("F2"))
        unit.enqueue([queued("F1"), queued("F2")], ts("2026-03-01T10:05:01Z"))
        assert backend.seen.entry("F1") is None  # not before it ends
    assert backend.seen.feed() == ["F1", "F2"]
    assert backend.seen.message("F2") == ("pending", ts("2026-03-01T10:05:01Z"))


def test_a_release_edits_only_an_entry_still_waiting(backend: Backend) -> None:
    backend.decide(activation(0, "2026-03-01T10:00:00Z"), at="2026-03-01T10:00:00Z")
    (entry,) = backend.decide(ad1("S0", 0, "2026-03-01T10:05:00Z"), at="2026-03-01T10:05:00Z")
    assert type(entry) is SuppressionEntry
    (sent,) = backend.decide(ad1("F1", 1, "2026-03-01T10:06:00Z"), at="2026-03-01T10:06:00Z")
    assert type(sent) is ForwardedAlert
    first, later = ts("2026-03-01T10:10:00Z"), ts("2026-03-01T10:20:00Z")
    with backend.store.deciding() as unit:
        unit.release([replace(entry, released_at=first, release_reason="operator")], first)
    with backend.store.deciding() as unit:
        unit.release([replace(entry, released_at=later, release_reason="no_sign_of_life")], later)
        # A forwarded AD1 is no Suppression Log entry: nothing to release.
        unit.release([replace(entry, alert_id="F1", released_at=later)], later)
    released = backend.seen.entry("S0")
    assert released == replace(entry, released_at=first, release_reason="operator")
    assert backend.seen.entry("F1") == sent
    assert backend.seen.feed() == ["F1", "S0"]
    assert backend.seen.message("S0") == ("pending", first)
