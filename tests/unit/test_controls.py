"""spec §12 in the domain: suspending suppression, ended windows, and the verdict an
explanation gives each window (which must agree with the gate's own decision)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poagate.domain.gate import Gate, window_verdict
from poagate.domain.outcomes import (
    SUPPRESSION_SUSPENDED,
    ActivationApplied,
    DuplicateAlert,
    ForwardedAlert,
    Status,
    SuppressionEntry,
    WindowVerdict,
)
from poagate.domain.reference import Config
from tests.helpers import activation, ad1, cancellation, gate, ts

SUSPENDED = Config(suppression_enabled=False)


def opened(g: Gate, received: str, **kwargs: object) -> ActivationApplied:
    applied = g.apply(activation(received, **kwargs), ts(received))  # type: ignore[arg-type]
    assert isinstance(applied, ActivationApplied)
    return applied


def test_suspended_gate_forwards_an_ad1_inside_a_window_with_the_reason() -> None:
    g = gate(config=SUSPENDED)
    opened(g, "2026-03-01T10:00:00Z")
    decided = g.apply(ad1("A1", "2026-03-01T10:05:00Z"), ts("2026-03-01T10:05:00Z"))
    assert type(decided) is ForwardedAlert
    assert decided.reason == SUPPRESSION_SUSPENDED
    assert decided.network_operator == "10"


def test_suspended_gate_forwards_every_ad1_with_the_reason_even_without_a_window() -> None:
    g = gate(config=SUSPENDED)
    decided = g.apply(ad1("A1", "2026-03-01T10:05:00Z"), ts("2026-03-01T10:05:00Z"))
    assert type(decided) is ForwardedAlert
    assert decided.reason == SUPPRESSION_SUSPENDED


def test_suspended_gate_still_records_activations_and_opens_their_windows() -> None:
    g = gate(config=SUSPENDED)
    record = opened(g, "2026-03-01T10:00:00Z").records[0]
    assert record.reason == "eligible"
    assert (record.window_start, record.window_end) == (
        ts("2026-03-01T10:00:00Z"),
        ts("2026-03-01T10:30:00Z"),
    )
    # Resuming (a gate with the same records and suppression on) suppresses at once.
    resumed = gate()
    resumed.restore(g.activation_records(), ())
    decided = resumed.apply(ad1("A2", "2026-03-01T10:06:00Z"), ts("2026-03-01T10:06:00Z"))
    assert type(decided) is SuppressionEntry


def test_suspended_gate_still_counts_a_repeated_alert_once() -> None:
    g = gate(config=SUSPENDED)
    g.apply(ad1("A1", "2026-03-01T10:05:00Z"), ts("2026-03-01T10:05:00Z"))
    again = g.apply(ad1("A1", "2026-03-01T10:06:00Z"), ts("2026-03-01T10:06:00Z"))
    assert type(again) is DuplicateAlert


def ended_gate(end: str) -> Gate:
    """A window on the hub from 10:00 to 10:30, ended by an operator at ``end``."""
    source = gate()
    record = opened(source, "2026-03-01T10:00:00Z").records[0]
    g = gate()
    g.restore([replace(record, ended_at=ts(end))], ())
    return g


def test_an_ended_window_suppresses_nothing_received_after_its_end() -> None:
    g = ended_gate("2026-03-01T10:10:00Z")
    decided = g.apply(
        ad1("A1", "2026-03-01T10:12:00Z", "2026-03-01T10:05:00Z"), ts("2026-03-01T10:12:00Z")
    )
    assert type(decided) is ForwardedAlert
    assert decided.reason == "no_active_window"


def test_an_ad1_received_exactly_at_the_end_is_not_suppressed() -> None:
    g = ended_gate("2026-03-01T10:10:00Z")
    decided = g.apply(ad1("A1", "2026-03-01T10:10:00Z"), ts("2026-03-01T10:10:00Z"))
    assert type(decided) is ForwardedAlert


def test_an_ad1_received_before_the_end_is_still_suppressed_when_decided_later() -> None:
    """A back-filled AD1 (received before the end, decided after it) keeps its window."""
    g = ended_gate("2026-03-01T10:10:00Z")
    decided = g.apply(ad1("A1", "2026-03-01T10:09:59Z"), ts("2026-03-01T10:20:00Z"))
    assert type(decided) is SuppressionEntry


def test_a_repeat_of_an_ended_immediate_activation_does_not_revive_it() -> None:
    g = ended_gate("2026-03-01T10:10:00Z")
    g.apply(activation("2026-03-01T10:15:00Z"), ts("2026-03-01T10:15:00Z"))
    record = g.activation(activation("2026-03-01T10:15:00Z").request_id)
    assert record is not None
    assert record.window_end == ts("2026-03-01T10:45:00Z")  # R2 still moves the end
    decided = g.apply(ad1("A1", "2026-03-01T10:20:00Z"), ts("2026-03-01T10:20:00Z"))
    assert type(decided) is ForwardedAlert


def test_ending_one_window_leaves_another_of_the_hub_suppressing() -> None:
    source = gate()
    first = opened(source, "2026-03-01T10:00:00Z", counter=1).records[0]
    second = opened(source, "2026-03-01T10:05:00Z", counter=2).records[0]
    g = gate()
    g.restore([replace(second, ended_at=ts("2026-03-01T10:06:00Z")), first], ())
    decided = g.apply(ad1("A1", "2026-03-01T10:07:00Z"), ts("2026-03-01T10:07:00Z"))
    assert type(decided) is SuppressionEntry
    assert decided.activation_request_id == first.request_id


# -- the explanation's verdicts -------------------------------------------------------------


def test_window_verdicts_name_each_check() -> None:
    g = gate()
    record = opened(g, "2026-03-01T10:00:00Z").records[0]
    at, skew = ts("2026-03-01T10:05:00Z"), timedelta(0)
    assert window_verdict(record, at, at, skew) is WindowVerdict.CONTAINS
    late = ts("2026-03-01T10:31:00Z")
    assert window_verdict(record, late, late, skew) is WindowVerdict.OUTSIDE
    ended = replace(record, ended_at=ts("2026-03-01T10:04:00Z"))
    assert window_verdict(ended, at, at, skew) is WindowVerdict.ENDED
    for status, verdict in (
        (Status.CANCELLED, WindowVerdict.CANCELLED),
        (Status.SUPERSEDED, WindowVerdict.SUPERSEDED),
    ):
        assert window_verdict(replace(record, status=status), at, at, skew) is verdict
    cancelling = g.apply(cancellation("2026-03-01T10:01:00Z"), ts("2026-03-01T10:01:00Z"))
    assert isinstance(cancelling, ActivationApplied)
    assert window_verdict(cancelling.records[0], at, at, skew) is WindowVerdict.NO_WINDOW


@given(
    offsets=st.lists(st.integers(-40, 40), min_size=1, max_size=4),
    ended=st.lists(st.one_of(st.none(), st.integers(-40, 40)), min_size=4, max_size=4),
    statuses=st.lists(st.sampled_from(list(Status)), min_size=4, max_size=4),
    outage=st.integers(-60, 60),
    delay=st.integers(0, 30),
    skew=st.integers(0, 120),
)
def test_the_verdicts_agree_with_the_gates_decision(
    offsets: list[int],
    ended: list[int | None],
    statuses: list[Status],
    outage: int,
    delay: int,
    skew: int,
) -> None:
    """An AD1 is suppressed exactly when some window's verdict is CONTAINS, and then by the
    window R5 chooses among those."""
    base = ts("2026-03-01T10:00:00Z")
    source = gate()
    records = []
    for n, offset in enumerate(offsets):
        received = (base + timedelta(minutes=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")
        record = opened(source, received, counter=n + 1).records[0]
        end = ended[n]
        records.append(
            replace(
                record,
                status=statuses[n],
                ended_at=None if end is None else base + timedelta(minutes=end),
            )
        )
    config = Config(skew_tolerance_seconds=skew)
    g = gate(config=config)
    g.restore(records, ())
    outage_at = base + timedelta(minutes=outage)
    received_at = outage_at + timedelta(minutes=delay)
    alert = replace(ad1("A", "2026-03-01T10:00:00Z"), received_at=received_at, event_at=outage_at)
    decided = g.apply(alert, received_at)
    containing = [
        r
        for r in records
        if window_verdict(r, outage_at, received_at, config.skew_tolerance)
        is WindowVerdict.CONTAINS
    ]
    if not containing:
        assert type(decided) is ForwardedAlert
        return
    assert type(decided) is SuppressionEntry
    latest = max(r.window_start for r in containing if r.window_start is not None)
    chosen = min((r for r in containing if r.window_start == latest), key=lambda r: r.request_id)
    assert decided.activation_request_id == chosen.request_id


@pytest.mark.parametrize("enabled", [True, False])
def test_the_switch_is_part_of_the_configuration(enabled: bool) -> None:
    assert Config(suppression_enabled=enabled).suppression_enabled is enabled
    assert Config().suppression_enabled is True  # suppressing unless an operator suspends
