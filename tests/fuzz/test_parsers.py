"""Hypothesis over the parsers: whatever bytes arrive, the only exception is the documented
rejection (``InputError``), and whatever is accepted lies within the input limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poagate.domain.events import Activation, Ad1Alert, Event, Ignored
from poagate.formats.duis import parse_duis
from poagate.formats.errors import InputError
from poagate.formats.jsonl import EVENT_TYPES, parse_event_line, received_at_us
from poagate.formats.limits import (
    EARLIEST,
    LATEST,
    MAX_ALERT_ID_LENGTH,
    MAX_ERROR_LENGTH,
    MAX_LINES_PER_REQUEST,
)
from poagate.service.messages import (
    SUPPORTED,
    TooManyLinesError,
    UnsupportedMediaTypeError,
    items_of,
)
from poagate.sim import duis as build
from tests.helpers import CHF, ESME, USER

RECEIVED = datetime(2026, 3, 1, 10, 4, tzinfo=UTC)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))


def within_limits(event: Event | Ignored) -> None:
    """What an accepted event may hold: bounded, header-safe identifiers and sane times."""
    if isinstance(event, Ad1Alert):
        assert 0 < len(event.alert_id) <= MAX_ALERT_ID_LENGTH
        assert all("!" <= c <= "~" for c in event.alert_id)
    if isinstance(event, Activation):
        assert len(event.request_id) <= 80  # the store's column
    for moment in (
        getattr(event, "received_at", None),
        getattr(event, "event_at", None),
        getattr(event, "execution_at", None),
    ):
        if moment is not None:
            assert EARLIEST <= moment < LATEST


def parsed_or_rejected(parse: Any, data: Any) -> None:
    try:
        event = parse(data)
    except InputError as exc:
        message = str(exc)
    else:
        within_limits(event)
        return
    assert len(message) <= MAX_ERROR_LENGTH * 2  # (an answer cuts it to the limit)


# -- JSON Lines -----------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=2000))
def test_any_bytes_as_a_json_line_are_an_event_or_a_rejection(data: bytes) -> None:
    parsed_or_rejected(parse_event_line, data)
    assert received_at_us(data) is None or isinstance(received_at_us(data), int)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**30, max_value=10**4000)
    | st.floats(allow_nan=False)
    | st.text(max_size=50),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
device_like = st.sampled_from(
    [CHF, ESME, CHF.lower(), CHF.replace("-", ""), "00-DB", "", " " + CHF, "0" * 10_000]
)
time_like = st.sampled_from(
    [
        "2026-03-01T10:00:00Z",
        "2026-03-01T10:00:00+01:00",
        "2026-03-01T10:00:00",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59.999999-12:00",
        "9999-12-31T23:45:00Z",
        "3000-12-31T00:00:00.00Z",
        "1969-12-31T23:59:59Z",
        "2026-02-30T10:00:00Z",
        "٢٠٢٦-03-01T10:00:00Z",
    ]
) | st.text(max_size=40)
counter_like = st.sampled_from(["1", "0042", "9" * 20, "9" * 5000, "-1", "1e3", "١"]) | st.text(
    max_size=30
)
field_values: dict[str, st.SearchStrategy[Any]] = {
    "alert_id": st.text(max_size=300) | st.sampled_from(["A1", "A" * 257, "AD1\r\n1", "=SUM(A1)"]),
    "chf_id": device_like,
    "device_id": device_like,
    "received_at": time_like,
    "event_at": time_like,
    "execution_at": time_like,
    "request_id": st.builds(lambda c: f"{USER}:{ESME}:{c}", counter_like) | st.text(max_size=80),
    "command_variant": st.sampled_from(["5", 5, 0, 9, "5" * 5000, 10**100, True, "05"]),
    "firmware_hash": st.text(max_size=300),
    "success": st.sampled_from([True, False, "yes", 1]),
    "xml": st.sampled_from([build.ad1_alert("A1", CHF, None), "<x/>", ""]),
}


@st.composite
def event_objects(draw: st.DrawFn) -> dict[str, Any]:
    """Objects close to real events: a known type and fields of good and bad values."""
    obj: dict[str, Any] = {"type": draw(st.sampled_from([*EVENT_TYPES, "AD1", "", None]))}
    for name, values in field_values.items():
        if draw(st.booleans()):
            obj[name] = draw(values | json_values)
    return obj


@FUZZ
@given(event_objects())
def test_any_event_object_is_an_event_or_a_rejection(obj: dict[str, Any]) -> None:
    parsed_or_rejected(parse_event_line, json.dumps(obj))


@FUZZ
@given(json_values)
def test_any_json_value_is_an_event_or_a_rejection(value: Any) -> None:
    parsed_or_rejected(parse_event_line, json.dumps(value))


# -- DUIS -----------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=3000))
def test_any_bytes_as_a_duis_message_are_an_event_or_a_rejection(data: bytes) -> None:
    parsed_or_rejected(lambda d: parse_duis(d, RECEIVED), data)


def templates() -> list[str]:
    return [
        build.activate_firmware(f"{USER}:{ESME}:1000"),
        build.activate_firmware(f"{USER}:{ESME}:1001", execution_at=RECEIVED),
        build.ad1_alert("AD1-1", CHF, RECEIVED),
        build.future_dated_outcome(ESME, USER, f"{USER}:{ESME}:1001", True),
        build.success_response(ESME, USER, 1000),
        build.update_firmware(f"{USER}:{ESME}:1", ESME),
    ]


@st.composite
def mutated_duis(draw: st.DrawFn) -> bytes:
    """A real message layout with one element's text replaced by anything."""
    xml = draw(st.sampled_from(templates()))
    opening = [i for i in range(len(xml)) if xml.startswith("<sr:", i)]
    at = xml.index(">", draw(st.sampled_from(opening))) + 1
    end = xml.find("<", at)
    text = draw(
        st.text(max_size=60)
        | st.sampled_from(["9" * 5000, "R" * 100_000, "&#13;&#10;", "]]>", "&amp;", "٣"])
    )
    escaped = text.replace("&", "&amp;").replace("<", "&lt;")
    return (xml[:at] + escaped + xml[end:]).encode("utf-8", "surrogatepass")


@FUZZ
@given(mutated_duis())
def test_any_element_text_in_a_duis_message_is_an_event_or_a_rejection(data: bytes) -> None:
    parsed_or_rejected(lambda d: parse_duis(d, RECEIVED), data)


# -- a request body -------------------------------------------------------------------------


@FUZZ
@given(
    st.binary(max_size=3000),
    st.sampled_from([*SUPPORTED, "text/plain", None, "application/x-ndjson; charset=latin-1"]),
    st.booleans(),
)
def test_any_request_body_gives_items_or_the_documented_refusal(
    body: bytes, content_type: str | None, may_backfill: bool
) -> None:
    try:
        items = items_of(body, content_type, RECEIVED, may_backfill)
    except UnsupportedMediaTypeError:
        return
    for item in items:
        if item.event is None:
            assert item.error is not None
            assert len(item.error) <= MAX_ERROR_LENGTH
        else:
            within_limits(item.event)


def test_a_body_of_more_lines_than_allowed_is_refused_whole() -> None:
    with pytest.raises(TooManyLinesError):
        items_of(b"{}\n" * (MAX_LINES_PER_REQUEST + 1), "application/x-ndjson", RECEIVED, True)
    assert len(
        items_of(b"{}\n" * MAX_LINES_PER_REQUEST, "application/x-ndjson", RECEIVED, True)
    ) == (MAX_LINES_PER_REQUEST)
