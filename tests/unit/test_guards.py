"""spec §9: the two guards, every edge, against the gate with exact timestamps."""

from __future__ import annotations

from datetime import timedelta

import pytest

from poagate.domain.gate import Gate
from poagate.domain.guards import postcode_sector
from poagate.domain.outcomes import (
    AREA_OUTAGE_EVIDENCE,
    NO_SIGN_OF_LIFE,
    ForwardedAlert,
    SuppressionEntry,
)
from poagate.domain.reference import Config
from tests.helpers import CHF, ESME, activation, ad1, esme, gate, hub, message, outcome, ts

E = "2026-03-01T10:02:00Z"  # the outage of the AD1 under test, in the window opened at 10:00


def dark(minutes: int = 60, **more: int) -> Gate:
    return gate(config=Config(release_after_minutes=minutes, **more))  # type: ignore[arg-type]


def suppressed_in(g: Gate, alert_id: str = "A1", received: str = "2026-03-01T10:05:00Z") -> None:
    g.activate(activation("2026-03-01T10:00:00Z"))
    assert type(g.decide_ad1(ad1(alert_id, received, E), ts(received))) is SuppressionEntry


def at(text: str, seconds: float = 0) -> object:
    return ts(text) + timedelta(seconds=seconds)


# -- release-if-dark ----------------------------------------------------------------------------


def test_both_guards_are_off_by_default() -> None:
    g = gate()
    suppressed_in(g)
    assert g.releases_due(ts("2027-01-01T00:00:00Z")) == []
    assert not g.guards.active


def test_without_a_sign_of_life_the_entry_is_released_exactly_m_minutes_after_event_at() -> None:
    g = dark(60)
    suppressed_in(g)
    assert g.releases_due(at("2026-03-01T11:02:00Z", -0.000001)) == []  # type: ignore[arg-type]
    [released] = g.releases_due(ts("2026-03-01T11:02:00Z"))
    assert released.alert_id == "A1"
    assert released.released_at == ts("2026-03-01T11:02:00Z")
    assert released.release_reason == NO_SIGN_OF_LIFE
    assert released.window_start == ts("2026-03-01T10:00:00Z")  # the rest of the entry as it was
    assert g.releases_due(ts("2026-03-02T00:00:00Z")) == []  # released once


@pytest.mark.parametrize(
    ("sign", "released"),
    [
        ("2026-03-01T10:02:00Z", True),  # at event_at: not after it
        ("2026-03-01T10:02:01Z", False),  # just after event_at
        ("2026-03-01T11:02:00Z", False),  # exactly M minutes after: in time
        ("2026-03-01T11:02:01Z", True),  # one second late
    ],
)
def test_the_edges_of_a_sign_of_life(sign: str, released: bool) -> None:
    g = dark(60)
    suppressed_in(g)
    late = g.releases_due(ts(sign) - timedelta(microseconds=1))  # the clock runs to the sign
    g.apply(message(sign), ts(sign))
    late += g.releases_due(ts("2026-03-01T12:00:00Z"))
    assert len(late) == (1 if released else 0)


def test_a_sign_from_the_hub_counts_and_an_activation_outcome_counts() -> None:
    for sign in (message("2026-03-01T10:10:00Z", device=CHF), outcome("2026-03-01T10:10:00Z")):
        g = dark(60)
        suppressed_in(g)
        g.apply(sign, sign.received_at)
        assert g.releases_due(ts("2026-03-02T00:00:00Z")) == []


def test_a_failed_activation_outcome_is_still_a_sign_of_life() -> None:
    g = dark(60)
    suppressed_in(g)
    g.apply(outcome("2026-03-01T10:10:00Z", success=False), ts("2026-03-01T10:10:00Z"))
    assert g.releases_due(ts("2026-03-02T00:00:00Z")) == []


def test_a_sign_from_another_site_or_an_unknown_device_does_not_count() -> None:
    other = "00-DB-12-34-56-78-90-A1"
    other_hub = "00-DB-12-34-56-78-90-C1"
    g = gate(
        esme(),
        hub(),
        esme(other, chf_id=other_hub),
        hub(other_hub),
        config=Config(release_after_minutes=60),
    )
    suppressed_in(g)
    g.apply(message("2026-03-01T10:10:00Z", device=other), ts("2026-03-01T10:10:00Z"))
    g.apply(message("2026-03-01T10:11:00Z", device="00-00-00-00-00-00-00-01"), ts(E))
    assert [e.alert_id for e in g.releases_due(ts("2026-03-02T00:00:00Z"))] == ["A1"]


def test_a_sign_received_before_a_late_ad1_is_decided_counts() -> None:
    g = dark(60)
    g.activate(activation("2026-03-01T10:00:00Z"))
    g.apply(message("2026-03-01T10:12:00Z"), ts("2026-03-01T10:12:00Z"))
    # The AD1 of 10:02 arrives at 10:20, after the sign of life of 10:12.
    g.decide_ad1(ad1("A1", "2026-03-01T10:20:00Z", E), ts("2026-03-01T10:20:00Z"))
    assert g.releases_due(ts("2026-03-02T00:00:00Z")) == []


def test_an_ad1_decided_after_its_release_time_is_released_at_its_decision() -> None:
    g = dark(10)
    g.activate(activation("2026-03-01T10:00:00Z"))
    # Event 10:02, release due 10:12, but the AD1 reaches the DSP only at 10:25.
    entry = g.decide_ad1(ad1("A1", "2026-03-01T10:25:00Z", E), ts("2026-03-01T10:25:00Z"))
    assert type(entry) is SuppressionEntry
    [released] = g.releases_due(ts("2026-03-01T10:25:00Z"))
    assert released.released_at == ts("2026-03-01T10:25:00Z")


def test_forwarded_alerts_are_never_released() -> None:
    g = dark(60)
    g.decide_ad1(ad1("F1", "2026-03-01T10:05:00Z", E), ts("2026-03-01T10:05:00Z"))  # no window
    assert g.releases_due(ts("2026-03-02T00:00:00Z")) == []


# -- area-outage --------------------------------------------------------------------------------

# Site A is eligible; B, C, D are other makers' meters in the same sector (SW1A 1), so their AD1s
# are forwarded; X is in another sector (SW1A 2).
SITES = {
    "B": ("00-12-A3-00-00-00-00-0B", "00-15-7B-00-00-00-00-0B", "SW1A 1BB"),
    "C": ("00-12-A3-00-00-00-00-0C", "00-15-7B-00-00-00-00-0C", "sw1a1cc"),
    "D": ("00-12-A3-00-00-00-00-0D", "00-15-7B-00-00-00-00-0D", "SW1A  1DD"),
    "X": ("00-12-A3-00-00-00-00-0E", "00-15-7B-00-00-00-00-0E", "SW1A 2XX"),
}


def area(threshold: int = 2, seconds: int = 600, release_after: int | None = None) -> Gate:
    devices = [esme(), hub()]
    for esme_id, chf_id, postcode in SITES.values():
        devices += [esme(esme_id, chf_id, "SECURE", postcode=postcode), hub(chf_id)]
    g = gate(
        *devices,
        config=Config(
            area_outage_threshold=threshold,
            area_outage_seconds=seconds,
            release_after_minutes=release_after,
        ),
    )
    g.activate(activation("2026-03-01T10:00:00Z"))
    return g


def forward(g: Gate, site: str, event: str, alert_id: str | None = None) -> None:
    chf = SITES[site][1]
    decided = g.decide_ad1(ad1(alert_id or f"{site}-{event}", event, event, chf=chf), ts(event))
    assert type(decided) is ForwardedAlert


def decide_a(g: Gate, event: str = E, alert_id: str = "A1") -> object:
    return g.decide_ad1(ad1(alert_id, "2026-03-01T10:05:00Z", event), ts("2026-03-01T10:05:00Z"))


def test_postcode_sectors() -> None:
    assert postcode_sector("SW1A 1AA") == "SW1A 1"
    assert postcode_sector("sw1a1aa") == "SW1A 1"
    assert postcode_sector(" M1  1AE ") == "M1 1"
    assert postcode_sector("M1") is None
    assert postcode_sector(None) is None


def test_one_fewer_than_the_threshold_still_suppresses() -> None:
    g = area(threshold=2)
    forward(g, "B", "2026-03-01T10:01:00Z")
    assert type(decide_a(g)) is SuppressionEntry


def test_the_threshold_reached_forwards_with_area_outage_evidence() -> None:
    g = area(threshold=2)
    forward(g, "B", "2026-03-01T10:01:00Z")
    forward(g, "C", "2026-03-01T10:03:00Z")
    decided = decide_a(g)
    assert type(decided) is ForwardedAlert
    assert decided.reason == AREA_OUTAGE_EVIDENCE
    assert decided.network_operator == "10"


@pytest.mark.parametrize(("offset", "counts"), [(600, True), (601, False), (-600, True)])
def test_evidence_within_exactly_s_seconds_counts(offset: int, counts: bool) -> None:
    g = area(threshold=2, seconds=600)
    forward(g, "B", E)
    near = (ts(E) + timedelta(seconds=offset)).isoformat().replace("+00:00", "Z")
    forward(g, "C", near)
    assert (type(decide_a(g)) is ForwardedAlert) is counts


def test_alerts_of_the_same_hub_or_another_sector_are_no_evidence() -> None:
    g = area(threshold=2)
    forward(g, "B", "2026-03-01T10:01:00Z")
    forward(g, "B", "2026-03-01T10:01:30Z", alert_id="B-again")  # the same hub twice: B counts 2
    forward(g, "X", "2026-03-01T10:02:00Z")  # another sector
    # Counting AD1s, not hubs (spec §9): B's two alerts are two pieces of evidence.
    assert type(decide_a(g)) is ForwardedAlert
    g2 = area(threshold=2)
    forward(g2, "X", "2026-03-01T10:01:00Z")
    forward(g2, "X", "2026-03-01T10:01:30Z", alert_id="X-again")
    assert type(decide_a(g2)) is SuppressionEntry


def test_an_entry_already_suppressed_is_released_when_the_evidence_arrives() -> None:
    g = area(threshold=2)
    assert type(decide_a(g)) is SuppressionEntry
    forward(g, "B", "2026-03-01T10:06:00Z")
    assert g.releases_due(ts("2026-03-01T10:06:00Z")) == []
    forward(g, "C", "2026-03-01T10:07:00Z")
    [released] = g.releases_due(ts("2026-03-01T10:07:00Z"))
    assert released.alert_id == "A1"
    assert released.release_reason == AREA_OUTAGE_EVIDENCE
    assert released.released_at == ts("2026-03-01T10:07:00Z")  # the decision that proved it
    forward(g, "D", "2026-03-01T10:08:00Z")
    assert g.releases_due(ts("2026-03-01T10:08:00Z")) == []  # released once


def test_evidence_too_far_from_the_entry_releases_nothing() -> None:
    g = area(threshold=2, seconds=600)
    decide_a(g)
    forward(g, "B", "2026-03-01T10:13:00Z")  # 11 minutes after 10:02
    forward(g, "C", "2026-03-01T10:14:00Z")
    assert g.releases_due(ts("2026-03-01T10:15:00Z")) == []


def test_a_release_for_darkness_is_evidence_and_nothing_is_released_twice() -> None:
    # Two eligible sites in one sector: A and a second L+G meter, with both guards on.
    a2, c2 = "00-DB-12-34-56-78-90-A1", "00-DB-12-34-56-78-90-C1"
    g = gate(
        esme(),
        hub(),
        esme(a2, c2, postcode="SW1A 1ZZ"),
        hub(c2),
        config=Config(release_after_minutes=10, area_outage_threshold=1, area_outage_seconds=600),
    )
    g.activate(activation("2026-03-01T10:00:00Z"))
    g.activate(activation("2026-03-01T10:00:00Z", device=a2, counter=7))
    decide_a(g)
    late_ad1 = ad1("A2", "2026-03-01T10:06:00Z", "2026-03-01T10:03:00Z", chf=c2)
    second = g.decide_ad1(late_ad1, ts("2026-03-01T10:06:00Z"))
    assert type(second) is SuppressionEntry
    # At 10:12 A1 is released for darkness; it is evidence that releases A2 at once.
    released = g.releases_due(ts("2026-03-01T10:12:00Z"))
    assert [(e.alert_id, e.release_reason) for e in released] == [
        ("A1", NO_SIGN_OF_LIFE),
        ("A2", AREA_OUTAGE_EVIDENCE),
    ]
    assert g.releases_due(ts("2026-03-02T00:00:00Z")) == []  # A2 is not released again


def test_restoring_the_guards_gives_the_same_releases() -> None:
    g = dark(60)
    suppressed_in(g)
    entry = next(iter(g.guards._pending.values()))
    restored = dark(60)
    restored.guards.restore([], [entry])
    assert [e.alert_id for e in restored.releases_due(ts("2026-03-01T11:02:00Z"))] == ["A1"]
    lit = dark(60)
    lit.guards.restore([(ESME, ts("2026-03-01T10:30:00Z"))], [entry])
    assert lit.releases_due(ts("2026-03-01T11:02:00Z")) == []


@pytest.mark.parametrize(
    "settings",
    [
        {"release_after_minutes": 0},
        {"area_outage_threshold": 0},
        {"area_outage_seconds": 0},
        {"release_after_minutes": -5},
    ],
)
def test_guard_settings_must_be_positive(settings: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        Config(**settings)  # type: ignore[arg-type]


def test_restored_forwarded_alerts_are_evidence_again() -> None:
    b_chf, c_chf = SITES["B"][1], SITES["C"][1]
    evidence = [
        ForwardedAlert(f"{chf}-x", chf, "10", ts(at), ts(at), ts(at))
        for chf, at in ((b_chf, "2026-03-01T10:01:00Z"), (c_chf, "2026-03-01T10:03:00Z"))
    ]
    restored = area(threshold=2)
    restored.guards.restore([], evidence)
    decided = decide_a(restored)
    assert type(decided) is ForwardedAlert
    assert decided.reason == AREA_OUTAGE_EVIDENCE
