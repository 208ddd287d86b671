"""Invariants over random event sequences (hypothesis): R6 exactly once, and resumption."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from poagate.domain.events import Ad1Alert, Event
from poagate.domain.gate import Gate
from poagate.domain.outcomes import (
    ActivationApplied,
    DuplicateAlert,
    ForwardedAlert,
    Outcome,
    Status,
    SuppressionEntry,
)
from poagate.domain.reference import Config
from tests.helpers import CHF_2, ESME_2, esme, gate, hub
from tests.strategies import configs, streams


def fresh(config: Config) -> Gate:
    return gate(esme(), hub(), esme(ESME_2, CHF_2, operator="21"), hub(CHF_2), config=config)


def run(g: Gate, events: list[Event]) -> list[Outcome]:
    return [g.apply(e, e.received_at) for e in events]


def snapshot(outcome: Outcome) -> object:
    """An outcome as it stands now: activation records are the gate's and change later."""
    if isinstance(outcome, ActivationApplied):
        return tuple(replace(r) for r in outcome.records)
    return outcome


def observed(g: Gate, events: list[Event]) -> list[object]:
    return [snapshot(g.apply(e, e.received_at)) for e in events]


@settings(max_examples=300, deadline=None)
@given(events=streams, config=configs)
def test_every_ad1_gets_exactly_one_outcome(events: list[Event], config: Config) -> None:
    outcomes = run(fresh(config), events)
    decided: dict[str, str] = {}
    duplicates = 0
    for event, o in zip(events, outcomes, strict=True):
        if not isinstance(event, Ad1Alert):
            continue
        if isinstance(o, DuplicateAlert):
            assert event.alert_id in decided
            duplicates += 1
        else:
            assert event.alert_id not in decided
            decided[event.alert_id] = type(o).__name__
    alert_events = [e for e in events if isinstance(e, Ad1Alert)]
    assert set(decided) == {e.alert_id for e in alert_events}
    assert len(decided) + duplicates == len(alert_events)


@settings(max_examples=300, deadline=None)
@given(events=streams, config=configs)
def test_suppression_only_inside_a_usable_window(events: list[Event], config: Config) -> None:
    g = fresh(config)
    for event in events:
        o = g.apply(event, event.received_at)
        if isinstance(o, SuppressionEntry):
            record = g.activation(o.activation_request_id)
            assert record is not None
            assert record.eligible
            assert record.status is Status.ACTIVE  # it was when decided; R3/R4 came later or never
            assert o.window_start - config.skew_tolerance <= o.event_at < o.window_end
            assert o.chf_id == record.chf_id
        elif isinstance(o, ForwardedAlert):
            # Fail open: no usable window of this CHF contained the outage at decision time.
            for record in g.windows_of(o.chf_id):
                if record.status is Status.ACTIVE:
                    assert record.window_start is not None
                    assert record.window_end is not None
                    assert not (
                        record.window_start - config.skew_tolerance
                        <= o.event_at
                        < record.window_end
                    )


@settings(max_examples=300, deadline=None)
@given(events=streams, config=configs, split=st.integers(0, 60))
def test_restored_gate_continues_exactly_as_an_uninterrupted_one(
    events: list[Event], config: Config, split: int
) -> None:
    events = sorted(events, key=lambda e: e.received_at)  # replay order
    split = min(split, len(events))
    whole = observed(fresh(config), events)
    first = fresh(config)
    head = observed(first, events[:split])
    restarted = fresh(config)
    restarted.restore(
        [replace(r) for r in first.activation_records()],
        [e.alert_id for e in events[:split] if isinstance(e, Ad1Alert)],
    )
    tail = observed(restarted, events[split:])
    assert head + tail == whole
