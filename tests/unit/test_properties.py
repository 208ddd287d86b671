"""Invariants over random event sequences (hypothesis): R6 exactly once, releases at most once
and only as spec §9 says, and resumption; with the guards off, each on, and both on."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st

from poagate.domain.events import Activation, Ad1Alert, DeviceMessage, Event
from poagate.domain.gate import Gate
from poagate.domain.outcomes import (
    AREA_OUTAGE_EVIDENCE,
    FORWARD_REASON,
    NO_SIGN_OF_LIFE,
    ActivationApplied,
    DuplicateAlert,
    ForwardedAlert,
    Outcome,
    Status,
    SuppressionEntry,
)
from poagate.domain.reference import Config
from tests.helpers import CHF, CHF_2, ESME, ESME_2, USER, esme, gate, hub
from tests.strategies import at, configs, guarded_configs, streams

ONE_US = timedelta(microseconds=1)
END = at(24 * 60)  # after every event of a stream and every release it can cause
SITE = {ESME: CHF, CHF: CHF, ESME_2: CHF_2, CHF_2: CHF_2}  # a sign of life shows its hub's site
SECTOR = {CHF: "SW1A 1", CHF_2: "SW1A 1"}  # both sites' ESMEs are at SW1A 1AA; no unknown hub


def fresh(config: Config) -> Gate:
    return gate(esme(), hub(), esme(ESME_2, CHF_2, operator="21"), hub(CHF_2), config=config)


def snapshot(outcome: Outcome) -> object:
    """An outcome as it stands now: activation records are the gate's and change later."""
    if isinstance(outcome, ActivationApplied):
        return tuple(replace(r) for r in outcome.records)
    return outcome


def decide(g: Gate, events: Iterable[Event], until: datetime | None = END) -> Iterator[object]:
    """Each event decided at its ``received_at``, and before it the guards' releases that fell
    due strictly before it: a sign of life received exactly at ``event_at`` + M is in time
    (spec §9), so the clock passes a moment only once its events are in. Then the releases due
    by ``until``. A release is the Suppression Log entry with ``released_at`` set."""
    for event in events:
        yield from g.releases_due(event.received_at - ONE_US)
        yield snapshot(g.apply(event, event.received_at))
    if until is not None:
        yield from g.releases_due(until)


def is_release(item: object) -> bool:
    return isinstance(item, SuppressionEntry) and item.released_at is not None


def in_usable_window(g: Gate, config: Config, chf_id: str, event_at: datetime) -> bool:
    """Whether a window of an eligible, active activation of the hub contains ``event_at``
    (R5; only eligible activations have windows)."""
    return any(
        r.status is Status.ACTIVE
        and r.window_start is not None
        and r.window_end is not None
        and r.window_start - config.skew_tolerance <= event_at < r.window_end
        for r in g.windows_of(chf_id)
    )


@settings(max_examples=300, deadline=None)
@given(events=streams, config=configs)
def test_every_ad1_gets_exactly_one_outcome_and_is_released_at_most_once(
    events: list[Event], config: Config
) -> None:
    # In input order: back-filled events (received earlier than the one before) happen too.
    items = list(decide(fresh(config), events))
    decisions = iter(item for item in items if not is_release(item))
    decided: dict[str, object] = {}
    duplicates = 0
    for event in events:
        o = next(decisions)
        if not isinstance(event, Ad1Alert):
            continue
        if isinstance(o, DuplicateAlert):
            assert event.alert_id in decided
            duplicates += 1
        else:
            assert isinstance(o, SuppressionEntry | ForwardedAlert)
            assert event.alert_id not in decided
            decided[event.alert_id] = o
    alert_events = [e for e in events if isinstance(e, Ad1Alert)]
    assert set(decided) == {e.alert_id for e in alert_events}
    assert len(decided) + duplicates == len(alert_events)
    released: set[str] = set()
    for entry in filter(is_release, items):
        assert isinstance(entry, SuppressionEntry)
        assert entry.alert_id not in released  # released once
        released.add(entry.alert_id)
        # Only a suppressed AD1 is released, its entry unchanged but for the release.
        assert decided[entry.alert_id] == replace(entry, released_at=None, release_reason=None)
        assert entry.release_reason in (NO_SIGN_OF_LIFE, AREA_OUTAGE_EVIDENCE)
    if config.release_after_minutes is None and config.area_outage_threshold is None:
        assert not released


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
            if o.reason == FORWARD_REASON:
                # Fail open: no usable window of this CHF contained the outage at decision time.
                assert not in_usable_window(g, config, o.chf_id, o.event_at)
            else:
                # spec §9 area-outage: in a window, yet forwarded for an outage around it.
                assert o.reason == AREA_OUTAGE_EVIDENCE
                assert config.area_outage_threshold is not None
                assert in_usable_window(g, config, o.chf_id, o.event_at)


@settings(max_examples=300, deadline=None)
@given(events=streams, config=guarded_configs)
@example(  # a sign of life exactly M minutes after event_at is in time: nothing is released
    events=[
        Activation(f"{USER}:{ESME}:1", USER, ESME, at(0), None, 4),
        Ad1Alert("A1", CHF, at(5), at(2)),
        DeviceMessage(ESME, at(2 + 30)),
    ],
    config=Config(release_after_minutes=30),
)
def test_guards_forward_and_release_only_as_spec_9_says(
    events: list[Event], config: Config
) -> None:
    """Against a model of spec §9 kept beside the gate: the AD1s that reached their DNO so far
    (area-outage evidence) and every sign of life of each site (release-if-dark)."""
    events = sorted(events, key=lambda e: e.received_at)  # replay order
    threshold, span = config.area_outage_threshold, timedelta(seconds=config.area_outage_seconds)
    minutes = config.release_after_minutes
    dark_after = None if minutes is None else timedelta(minutes=minutes)
    signs: dict[str, list[datetime]] = {CHF: [], CHF_2: []}
    for event in events:
        if not isinstance(event, Ad1Alert | Activation):
            signs[SITE[event.device_id]].append(event.received_at)
    reached_dno: list[tuple[str, datetime]] = []  # (chf_id, event_at), forwarded or released

    def area_evidence(chf_id: str, event_at: datetime) -> bool:
        sector = SECTOR.get(chf_id)
        if threshold is None or sector is None:
            return False
        near = [
            other
            for other, other_at in reached_dno
            if other != chf_id and SECTOR.get(other) == sector and abs(other_at - event_at) <= span
        ]
        return len(near) >= threshold

    def lit(entry: SuppressionEntry) -> bool:
        assert dark_after is not None
        return any(entry.event_at < s <= entry.event_at + dark_after for s in signs[entry.chf_id])

    g = fresh(config)
    suppressed: dict[str, SuppressionEntry] = {}
    released: set[str] = set()
    for item in decide(g, events):
        if is_release(item):
            assert isinstance(item, SuppressionEntry)
            assert item.released_at is not None
            assert item.released_at >= item.decided_at
            if item.release_reason == NO_SIGN_OF_LIFE:
                assert dark_after is not None
                assert not lit(item)
                assert item.released_at == max(item.event_at + dark_after, item.decided_at)
            else:
                assert item.release_reason == AREA_OUTAGE_EVIDENCE
                assert area_evidence(item.chf_id, item.event_at)
            released.add(item.alert_id)
            reached_dno.append((item.chf_id, item.event_at))
        elif isinstance(item, SuppressionEntry):
            assert not area_evidence(item.chf_id, item.event_at)
            suppressed[item.alert_id] = item
        elif isinstance(item, ForwardedAlert):
            if item.reason == AREA_OUTAGE_EVIDENCE:
                assert area_evidence(item.chf_id, item.event_at)
            reached_dno.append((item.chf_id, item.event_at))
    # What stays suppressed had a sign of life in time and no outage evidence around it.
    for alert_id, entry in suppressed.items():
        if alert_id not in released:
            assert dark_after is None or lit(entry)
            assert not area_evidence(entry.chf_id, entry.event_at)


@settings(max_examples=300, deadline=None)
@given(events=streams, config=configs, split=st.integers(0, 60))
def test_restored_gate_continues_exactly_as_an_uninterrupted_one(
    events: list[Event], config: Config, split: int
) -> None:
    events = sorted(events, key=lambda e: e.received_at)  # replay order
    split = min(split, len(events))
    whole = list(decide(fresh(config), events))
    first = fresh(config)
    # A run that stops after ``split`` events hands out the releases they caused, no more.
    stop = events[split - 1].received_at - ONE_US if split else None
    head = list(decide(first, events[:split], until=stop))
    # What a store holds then: the activation records, every decided AD1 as it stands (a
    # released entry with its release), and every sign of life.
    stored: dict[str, SuppressionEntry | ForwardedAlert] = {}
    for item in head:
        if isinstance(item, SuppressionEntry | ForwardedAlert):
            stored[item.alert_id] = item
    restarted = fresh(config)
    restarted.restore(
        [replace(r) for r in first.activation_records()],
        [e.alert_id for e in events[:split] if isinstance(e, Ad1Alert)],
    )
    restarted.guards.restore(
        [
            (e.device_id, e.received_at)
            for e in events[:split]
            if not isinstance(e, Ad1Alert | Activation)
        ],
        stored.values(),
    )
    tail = list(decide(restarted, events[split:]))
    assert head + tail == whole
