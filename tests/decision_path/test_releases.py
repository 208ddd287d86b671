"""The guards' releases in the service (spec §9): release-if-dark's pass and area-outage's
releases within a group, and what a release stores and makes due."""

from __future__ import annotations

from poagate.domain.outcomes import ForwardedAlert, SuppressionEntry
from poagate.service.releases import arm_release_if_dark, release_dark
from tests.decision_path.conftest import Backend, activation, ad1, message
from tests.helpers import ts


def suppressed(
    backend: Backend, n: int, alert_id: str, event: str, opened: str = "2026-03-01T10:00:00Z"
) -> SuppressionEntry:
    """An AD1 of site n suppressed by an activation of its ESME received at ``opened``."""
    backend.decide(activation(n, opened), at=opened)
    (entry,) = backend.decide(ad1(alert_id, n, event), at=event)
    assert type(entry) is SuppressionEntry
    return entry


def test_release_if_dark_releases_a_silent_hub_and_puts_its_held_message_due(
    backend: Backend,
) -> None:
    backend.configure(release_after_minutes=60)
    arm_release_if_dark(backend.store)
    backend.decide(ad1("F1", 1, "2026-03-01T10:02:00Z"), at="2026-03-01T10:02:00Z")
    suppressed(backend, 0, "D0", "2026-03-01T10:05:00Z")
    # Due at 11:05, but a sign of life stamped in time may still be committing elsewhere.
    assert release_dark(backend.store, ts("2026-03-01T11:05:29Z")) == []
    assert backend.seen.message("D0") == ("held", ts("2026-03-01T10:05:00Z"))

    (released,) = release_dark(backend.store, ts("2026-03-01T11:06:00Z"))
    assert (released.alert_id, released.release_reason) == ("D0", "no_sign_of_life")
    assert released.released_at == ts("2026-03-01T11:06:00Z")
    assert backend.seen.entry("D0") == released
    assert backend.seen.message("D0") == ("pending", ts("2026-03-01T11:06:00Z"))
    # A release is forwarded at its release: the next place in the feed.
    assert backend.seen.feed() == ["F1", "D0"]


def test_release_if_dark_spares_a_hub_with_a_sign_of_life(backend: Backend) -> None:
    backend.configure(release_after_minutes=60)
    arm_release_if_dark(backend.store)
    suppressed(backend, 0, "D0", "2026-03-01T10:05:00Z")
    suppressed(backend, 1, "L1", "2026-03-01T10:05:00Z")
    backend.decide(message(1, "2026-03-01T10:15:00Z"), at="2026-03-01T10:15:00Z")
    released = release_dark(backend.store, ts("2026-03-01T11:06:00Z"))
    assert [e.alert_id for e in released] == ["D0"]
    lit = backend.seen.entry("L1")
    assert type(lit) is SuppressionEntry
    assert lit.released_at is None
    assert backend.seen.message("L1") == ("held", ts("2026-03-01T10:05:00Z"))


def test_an_entry_is_released_once_however_often_the_pass_runs(backend: Backend) -> None:
    backend.configure(release_after_minutes=60)
    arm_release_if_dark(backend.store)
    suppressed(backend, 0, "D0", "2026-03-01T10:05:00Z")
    assert len(release_dark(backend.store, ts("2026-03-01T11:06:00Z"))) == 1
    assert release_dark(backend.store, ts("2026-03-01T11:07:00Z")) == []
    assert release_dark(backend.store, ts("2026-03-01T12:00:00Z")) == []
    assert backend.seen.feed() == ["D0"]
    entry = backend.seen.entry("D0")
    assert type(entry) is SuppressionEntry
    assert entry.released_at == ts("2026-03-01T11:06:00Z")


def test_switching_release_if_dark_on_never_releases_the_history(backend: Backend) -> None:
    suppressed(backend, 0, "OLD", "2026-03-01T10:05:00Z")
    backend.configure(release_after_minutes=60)
    arm_release_if_dark(backend.store)
    (later,) = backend.decide(ad1("NEW", 0, "2026-03-01T10:10:00Z"), at="2026-03-01T10:10:00Z")
    assert type(later) is SuppressionEntry
    released = release_dark(backend.store, ts("2026-03-01T12:00:00Z"))
    assert [e.alert_id for e in released] == ["NEW"]
    old = backend.seen.entry("OLD")
    assert type(old) is SuppressionEntry
    assert old.released_at is None


def test_release_if_dark_switched_on_outside_the_service_arms_itself_first(
    backend: Backend,
) -> None:
    # A replay's configuration switched it on; the service's first pass only arms it.
    backend.configure(release_after_minutes=60)
    suppressed(backend, 0, "D0", "2026-03-01T10:05:00Z")
    assert backend.seen.meta("release_if_dark_seq") is None
    assert release_dark(backend.store, ts("2026-03-01T12:00:00Z")) == []
    assert backend.seen.meta("release_if_dark_seq") is not None
    suppressed(backend, 1, "D1", "2026-03-01T12:01:00Z", opened="2026-03-01T12:00:00Z")
    released = release_dark(backend.store, ts("2026-03-01T13:02:00Z"))
    assert [e.alert_id for e in released] == ["D1"]


def test_forwarded_ad1s_of_its_sector_release_a_waiting_entry(backend: Backend) -> None:
    backend.configure(area_outage_threshold=3)
    entry = suppressed(backend, 0, "H0", "2026-03-01T10:05:00Z")
    # Evidence must lie within 900 s of the entry's event_at: 10:21 is not.
    (far,) = backend.decide(ad1("F3", 3, "2026-03-01T10:21:00Z"), at="2026-03-01T10:21:00Z")
    assert type(far) is ForwardedAlert
    backend.decide(
        ad1("S1", 1, "2026-03-01T10:07:00Z"),
        ad1("S2", 2, "2026-03-01T10:07:00Z"),
        at="2026-03-01T10:07:00Z",
    )
    waiting = backend.seen.entry("H0")
    assert type(waiting) is SuppressionEntry
    assert waiting.released_at is None
    assert backend.seen.message("H0") == ("held", ts("2026-03-01T10:05:00Z"))
    backend.decide(ad1("S3", 3, "2026-03-01T10:08:00Z"), at="2026-03-01T10:09:00Z")  # the third

    released = backend.seen.entry("H0")
    assert type(released) is SuppressionEntry
    assert released.release_reason == "area_outage_evidence"
    assert released.released_at == ts("2026-03-01T10:09:00Z")
    assert released.decided_at == entry.decided_at  # the entry keeps its decision
    assert backend.seen.message("H0") == ("pending", ts("2026-03-01T10:09:00Z"))
    assert backend.seen.feed() == ["F3", "S1", "S2", "S3", "H0"]
