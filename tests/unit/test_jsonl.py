"""spec §4: canonical JSON Lines events, and every way a line can be rejected."""

from __future__ import annotations

import orjson
import pytest

from poagate.domain.events import (
    Activation,
    ActivationKind,
    ActivationOutcome,
    Ad1Alert,
    DeviceMessage,
    Ignored,
)
from poagate.formats.errors import InputError
from poagate.formats.jsonl import parse_event_line, received_at_us
from poagate.formats.timestamps import to_us
from tests.helpers import CHF, ESME, USER, duis_template, ts


def line(**fields: object) -> bytes:
    return orjson.dumps(fields)


def test_ad1_line() -> None:
    event = parse_event_line(
        line(
            type="ad1",
            alert_id="A1",
            chf_id=CHF.lower(),
            received_at="2026-03-01T10:04:00Z",
            event_at="2026-03-01T10:01:00.250Z",
        )
    )
    assert event == Ad1Alert("A1", CHF, ts("2026-03-01T10:04:00Z"), ts("2026-03-01T10:01:00.25Z"))


def test_null_means_absent() -> None:
    event = parse_event_line(
        line(
            type="ad1", alert_id="A1", chf_id=CHF, received_at="2026-03-01T10:04:00Z", event_at=None
        )
    )
    assert isinstance(event, Ad1Alert)
    assert event.event_at is None


def test_activation_line_uses_the_canonical_request_id() -> None:
    event = parse_event_line(
        line(
            type="activation",
            request_id="90b3d51f30010000:00DB1234567890A0:0042",
            received_at="2026-03-01T10:00:00+00:00",
            execution_at="2026-03-02T02:00:00Z",
            command_variant="5",
            firmware_hash="AA",
        )
    )
    assert event == Activation(
        request_id=f"{USER}:{ESME}:42",
        originator=USER,
        device_id=ESME,
        received_at=ts("2026-03-01T10:00:00Z"),
        execution_at=ts("2026-03-02T02:00:00Z"),
        command_variant=5,
        firmware_hash="AA",
    )


def test_execution_at_from_year_3000_is_a_cancellation() -> None:
    event = parse_event_line(
        line(
            type="activation",
            request_id=f"{USER}:{ESME}:1",
            received_at="2026-03-01T10:00Z",
            execution_at="3000-01-01T00:00:00Z",
        )
    )
    assert isinstance(event, Activation)
    assert event.kind is ActivationKind.CANCELLATION


def test_outcome_and_device_message_lines() -> None:
    assert parse_event_line(
        line(
            type="activation_outcome",
            device_id=ESME,
            received_at="2026-03-01T10:00:00Z",
            request_id=f"{USER}:{ESME}:01",
            success=False,
        )
    ) == ActivationOutcome(ESME, ts("2026-03-01T10:00:00Z"), f"{USER}:{ESME}:1", False)
    assert parse_event_line(
        line(
            type="device_message",
            device_id=ESME.replace("-", ""),
            received_at="2026-03-01T10:00:00Z",
        )
    ) == DeviceMessage(ESME, ts("2026-03-01T10:00:00Z"))


def test_offsets_are_converted_to_utc_and_fractions_kept() -> None:
    event = parse_event_line(
        line(type="device_message", device_id=ESME, received_at="2026-06-01T11:00:00.123456+01:00")
    )
    assert event.received_at == ts("2026-06-01T10:00:00.123456Z")


def test_duis_line_wraps_a_real_message() -> None:
    xml = duis_template("CS06_11.3_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML").read_text()
    event = parse_event_line(line(type="duis", received_at="2026-03-01T10:00:00Z", xml=xml))
    assert isinstance(event, Activation)
    assert event.received_at == ts("2026-03-01T10:00:00Z")


def test_duis_line_of_another_service_is_ignored() -> None:
    xml = duis_template("8.2_READ_INVENTORY_REQUEST_DUIS.XML").read_text()
    event = parse_event_line(line(type="duis", received_at="2026-03-01T10:00:00Z", xml=xml))
    assert event == Ignored(ts("2026-03-01T10:00:00Z"), "DUIS request 8.2")


def test_unknown_extra_fields_are_ignored() -> None:
    event = parse_event_line(
        line(
            type="device_message",
            device_id=ESME,
            received_at="2026-03-01T10:00:00Z",
            note="from the DSP's archive",
        )
    )
    assert isinstance(event, DeviceMessage)


AD1 = {"type": "ad1", "alert_id": "A1", "chf_id": CHF, "received_at": "2026-03-01T10:04:00Z"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[1, 2]", r"not a JSON object \(found a list\)"),
        (b'"ad1"', r"not a JSON object \(found a string\)"),
        (line(alert_id="A1"), "missing required field 'type'"),
        (line(type="reading"), "unknown type 'reading': expected one of ad1, activation"),
        (line(type=7), "unknown type 7"),
        (line(**{**AD1, "alert_id": None}), "missing required field 'alert_id' for type 'ad1'"),
        (line(**{**AD1, "chf_id": None}), "missing required field 'chf_id' for type 'ad1'"),
        (line(**{**AD1, "received_at": None}), "missing required field 'received_at'"),
        (line(**{**AD1, "alert_id": ""}), "alert_id must be a non-empty string"),
        (line(**{**AD1, "alert_id": 17}), "alert_id must be a non-empty string, not a number"),
        (line(**{**AD1, "alert_id": "x" * 300}), "alert_id is 300 characters; at most 256"),
        (line(**{**AD1, "chf_id": "hub-17"}), "chf_id: 'hub-17' is not a Device ID"),
        (line(**{**AD1, "chf_id": 17}), "chf_id must be a Device ID string, not a number"),
        (line(**{**AD1, "received_at": "2026-03-01T10:04:00"}), "received_at .* has no time zone"),
        (line(**{**AD1, "received_at": "yesterday"}), "is not an ISO-8601 timestamp"),
        (line(**{**AD1, "received_at": 1772359440}), "must be an ISO-8601 timestamp string"),
        (line(**{**AD1, "event_at": "2026-03-01 10:01"}), "event_at .* has no time zone"),
        (
            line(type="activation", request_id="12345", received_at="2026-03-01T10:00:00Z"),
            "request_id '12345' must have three parts",
        ),
        (
            line(
                type="activation",
                request_id=f"{USER}:{ESME}:x1",
                received_at="2026-03-01T10:00:00Z",
            ),
            "counter 'x1' is not a decimal number",
        ),
        (
            line(
                type="activation",
                request_id=f"{USER}:{ESME}:1",
                received_at="2026-03-01T10:00Z",
                execution_at="tomorrow",
            ),
            "execution_at 'tomorrow' is not an ISO-8601 timestamp",
        ),
        (
            line(
                type="activation",
                request_id=f"{USER}:{ESME}:1",
                received_at="2026-03-01T10:00Z",
                command_variant=9,
            ),
            "command_variant 9 must be a DUIS CommandVariant from 1 to 8",
        ),
        (
            line(
                type="activation_outcome",
                device_id=ESME,
                received_at="2026-03-01T10:00Z",
                success="yes",
            ),
            "success must be true or false, not a string",
        ),
        (
            line(
                type="activation_outcome",
                device_id=ESME,
                received_at="2026-03-01T10:00Z",
                request_id="nope",
            ),
            "request_id 'nope' must have three parts",
        ),
        (line(type="device_message", received_at="2026-03-01T10:00Z"), "missing required field"),
        (line(type="duis", received_at="2026-03-01T10:00Z"), "missing required field 'xml'"),
        (line(type="duis", received_at="2026-03-01T10:00Z", xml="<x"), "not well-formed XML"),
        (line(type="duis", received_at="2026-03-01T10:00Z", xml=5), "xml must be a string"),
    ],
)
def test_bad_lines_are_rejected_with_what_was_wrong(raw: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_event_line(raw)


@pytest.mark.parametrize(
    "raw",
    [
        line(**AD1),
        b'{"type": "ad1", "received_at" : "2026-03-01T10:04:00Z", "alert_id": "A1"}',
        line(received_at="2026-03-01T11:04:00+01:00"),
        line(received_at="2026-03-01T10:04:00.000000Z", nested={"received_at": "x"}),
    ],
)
def test_ordering_key_is_the_received_at_the_full_parse_reads(raw: bytes) -> None:
    assert received_at_us(raw) == to_us(ts("2026-03-01T10:04:00Z"))


@pytest.mark.parametrize(
    "raw", [b"{broken", line(type="ad1"), line(received_at="2026-03-01T10:04:00"), b"[]"]
)
def test_line_without_a_readable_received_at_has_no_ordering_key(raw: bytes) -> None:
    assert received_at_us(raw) is None
