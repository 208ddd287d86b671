"""Hypothesis strategies for the property tests: random event streams over two sites and an
unknown hub, and the configurations they are decided with, the spec §9 guards off and on.

Both sites are in one postcode sector (``SW1A 1``), so each hub's forwarded AD1s are area-outage
evidence for the other's; the unknown hub has no sector."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from poagate.domain.events import Activation, ActivationOutcome, Ad1Alert, DeviceMessage, Event
from poagate.domain.reference import Config
from tests.helpers import CHF, CHF_2, ESME, ESME_2, USER, ts

BASE = ts("2026-03-01T10:00:00Z")
UNKNOWN_CHF = "00-11-22-33-44-55-66-77"


def at(minutes: int, ms: int = 0) -> datetime:
    return BASE + timedelta(minutes=minutes, milliseconds=ms)


def activations(minutes: int) -> SearchStrategy[Activation]:
    """11.3s received in the first ``minutes`` of the stream."""
    return st.builds(
        lambda minute, device, counter, kind, offset: Activation(
            request_id=f"{USER}:{device}:{counter}",
            originator=USER,
            device_id=device,
            received_at=at(minute),
            execution_at=None
            if kind == "immediate"
            else (ts("3000-12-31T00:00:00Z") if kind == "cancel" else at(minute + offset)),
            command_variant=4,
        ),
        minute=st.integers(0, minutes * 4 // 5),
        device=st.sampled_from([ESME, ESME_2]),
        counter=st.integers(1, 6),  # few counters: repeats of a request_id happen
        kind=st.sampled_from(["immediate", "future", "cancel"]),
        offset=st.integers(1, minutes * 2 // 5),
    )


def alerts(minutes: int) -> SearchStrategy[Ad1Alert]:
    return st.builds(
        lambda alert, minute, ms, chf, lag: Ad1Alert(
            alert_id=f"A{alert}",
            chf_id=chf,
            received_at=at(minute, ms),
            event_at=None if lag is None else at(minute, ms) - timedelta(minutes=lag),
        ),
        alert=st.integers(0, 40),  # a small pool: duplicates happen
        minute=st.integers(0, minutes),
        ms=st.just(0) | st.integers(1, 999),  # on the minute often: signs come on the minute
        chf=st.sampled_from([CHF, CHF_2, UNKNOWN_CHF]),
        lag=st.none() | st.integers(0, 40),
    )


def signs(minutes: int, site: str | None = None) -> SearchStrategy[Event]:
    """Signs of life (R9; spec §9): a message from an ESME or its hub, or an activation
    outcome; from both sites, or only from the site of hub ``site``."""
    esmes = [e for e, hub in ((ESME, CHF), (ESME_2, CHF_2)) if site in (None, hub)]
    hubs = [hub for hub in (CHF, CHF_2) if site in (None, hub)]
    messages = st.builds(
        lambda minute, device: DeviceMessage(device, at(minute)),
        st.integers(0, minutes),
        st.sampled_from(esmes + hubs),
    )
    outcomes = st.builds(
        lambda minute, device, success: ActivationOutcome(device, at(minute), None, success),
        st.integers(0, minutes),
        st.sampled_from(esmes),
        st.booleans(),
    )
    return messages | outcomes


def stream(
    minutes: int, min_size: int = 0, signs_from: str | None = None
) -> SearchStrategy[list[Event]]:
    return st.lists(
        st.one_of(
            activations(minutes), alerts(minutes), alerts(minutes), signs(minutes, signs_from)
        ),
        min_size=min_size,
        max_size=60,
    )


# A busy hour: windows, outages and signs of life crowd together, so AD1s fall in windows and
# the guards have work; CHF_2's site stays dark (no sign of life), CHF's mostly is not.
busy_streams = stream(60, min_size=20, signs_from=CHF)
# Five hours of events (mostly a few), or a busy hour.
streams = stream(300) | busy_streams

GUARDS = ("off", "release-if-dark", "area-outage", "both")


def guarded(
    window_minutes: int,
    skew_tolerance_seconds: int,
    guards: str,
    release_after_minutes: int,
    area_outage_threshold: int,
    area_outage_seconds: int,
) -> Config:
    """A configuration with the guards ``guards`` names switched on (one of ``GUARDS``)."""
    return Config(
        window_minutes=window_minutes,
        skew_tolerance_seconds=skew_tolerance_seconds,
        release_after_minutes=release_after_minutes
        if guards in ("release-if-dark", "both")
        else None,
        area_outage_threshold=area_outage_threshold if guards in ("area-outage", "both") else None,
        area_outage_seconds=area_outage_seconds,
    )


def configs_with(guards: Sequence[str]) -> SearchStrategy[Config]:
    return st.builds(
        guarded,
        window_minutes=st.sampled_from([10, 30]),
        skew_tolerance_seconds=st.sampled_from([0, 90]),
        guards=st.sampled_from(guards),
        # Shorter and longer than the windows and the AD1s' lag (0 to 40 minutes).
        release_after_minutes=st.sampled_from([5, 30, 90]),
        area_outage_threshold=st.integers(1, 3),
        area_outage_seconds=st.sampled_from([60, 900, 3600]),
    )


configs = configs_with(GUARDS)  # both guards off, each alone, both on
guarded_configs = configs_with(GUARDS[1:])  # at least one guard on
