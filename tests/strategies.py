"""Hypothesis strategies for the property tests: random event streams over two sites and an
unknown hub, and the configurations they are decided with."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import strategies as st

from poagate.domain.events import Activation, Ad1Alert, DeviceMessage
from poagate.domain.reference import Config
from tests.helpers import CHF, CHF_2, ESME, ESME_2, USER, ts

BASE = ts("2026-03-01T10:00:00Z")
UNKNOWN_CHF = "00-11-22-33-44-55-66-77"


def at(minutes: int, ms: int = 0) -> datetime:
    return BASE + timedelta(minutes=minutes, milliseconds=ms)


activations = st.builds(
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
    minute=st.integers(0, 240),
    device=st.sampled_from([ESME, ESME_2]),
    counter=st.integers(1, 6),  # few counters: repeats of a request_id happen
    kind=st.sampled_from(["immediate", "future", "cancel"]),
    offset=st.integers(1, 120),
)
alerts = st.builds(
    lambda alert, minute, ms, chf, lag: Ad1Alert(
        alert_id=f"A{alert}",
        chf_id=chf,
        received_at=at(minute, ms),
        event_at=None if lag is None else at(minute, ms) - timedelta(minutes=lag),
    ),
    alert=st.integers(0, 40),  # a small pool: duplicates happen
    minute=st.integers(0, 300),
    ms=st.integers(0, 999),
    chf=st.sampled_from([CHF, CHF_2, UNKNOWN_CHF]),
    lag=st.none() | st.integers(0, 40),
)
signs = st.builds(
    lambda minute, device: DeviceMessage(device, at(minute)),
    st.integers(0, 300),
    st.sampled_from([ESME, ESME_2]),
)
streams = st.lists(st.one_of(activations, alerts, alerts, signs), max_size=60)
configs = st.builds(
    Config,
    window_minutes=st.sampled_from([10, 30]),
    skew_tolerance_seconds=st.sampled_from([0, 90]),
)
