"""Input limits (poagate.formats.limits): every identifier, timestamp and error message is
bounded, and each violation is a rejection with a short message — never another exception."""

from __future__ import annotations

import io
from datetime import datetime

import orjson
import pytest

from poagate.domain.outcomes import ForwardedAlert
from poagate.formats.duis import parse_duis
from poagate.formats.errors import InputError
from poagate.formats.jsonl import parse_event_line
from poagate.formats.limits import MAX_ERROR_LENGTH, MAX_REQUEST_COUNTER
from poagate.formats.records import FORWARDED_FIELDS, csv_cell, write_csv
from poagate.formats.timestamps import parse_timestamp
from poagate.sim import duis as build
from tests.helpers import CHF, ESME, USER, ts

RECEIVED = ts("2026-03-01T10:04:00Z")


def rejection(line: dict[str, object]) -> str:
    with pytest.raises(InputError) as caught:
        parse_event_line(orjson.dumps(line))
    message = str(caught.value)
    assert len(message) <= MAX_ERROR_LENGTH
    return message


def duis_rejection(xml: str) -> str:
    with pytest.raises(InputError) as caught:
        parse_duis(xml.encode(), RECEIVED)
    message = str(caught.value)
    assert len(message) <= MAX_ERROR_LENGTH
    return message


def ad1_line(**fields: object) -> dict[str, object]:
    return {
        "type": "ad1",
        "alert_id": "A1",
        "chf_id": CHF,
        "received_at": "2026-03-01T10:04:00Z",
        **fields,
    }


def activation_line(**fields: object) -> dict[str, object]:
    return {
        "type": "activation",
        "request_id": f"{USER}:{ESME}:1",
        "received_at": "2026-03-01T10:00:00Z",
        **fields,
    }


# -- request_id -----------------------------------------------------------------------------


def test_a_request_id_counter_of_5000_digits_is_rejected_not_a_crash() -> None:
    message = rejection(activation_line(request_id=f"{USER}:{ESME}:{'9' * 5000}"))
    assert "at most 128" in message


def test_a_request_id_counter_over_64_bits_is_rejected() -> None:
    message = rejection(activation_line(request_id=f"{USER}:{ESME}:{MAX_REQUEST_COUNTER + 1}"))
    assert "64-bit" in message


def test_the_largest_64_bit_counter_is_read() -> None:
    event = parse_event_line(
        orjson.dumps(activation_line(request_id=f"{USER}:{ESME}:{MAX_REQUEST_COUNTER}"))
    )
    assert event.request_id.endswith(f":{MAX_REQUEST_COUNTER}")  # type: ignore[union-attr]


def test_a_duis_request_id_of_5000_digits_is_rejected() -> None:
    message = duis_rejection(build.activate_firmware(f"{USER}:{ESME}:{'1' * 5000}"))
    assert "Header/RequestID" in message


def test_a_duis_command_variant_of_5000_digits_is_rejected() -> None:
    xml = build.activate_firmware(f"{USER}:{ESME}:1").replace(
        "<sr:CommandVariant>4<", f"<sr:CommandVariant>{'4' * 5000}<"
    )
    assert "CommandVariant" in duis_rejection(xml)


def test_a_json_command_variant_of_5000_digits_is_rejected() -> None:
    assert "command_variant" in rejection(activation_line(command_variant="5" * 5000))


# -- timestamps at the edges of the calendar -------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00+01:00",  # before the calendar once in UTC
        "9999-12-31T23:59:59-05:00",  # after it
        "9999-12-31T23:45:00Z",  # a window from here would leave the calendar
        "1969-12-31T23:59:59Z",
    ],
)
def test_timestamps_outside_the_range_are_rejected(text: str) -> None:
    with pytest.raises(InputError, match="outside the times poagate reads"):
        parse_timestamp(text, "received_at")


def test_an_immediate_activation_whose_window_would_overflow_is_rejected() -> None:
    assert "outside" in rejection(activation_line(received_at="9999-12-31T23:45:00Z"))


def test_an_ad1_at_the_end_of_the_calendar_is_rejected_on_the_fast_path_too() -> None:
    assert "outside" in rejection(ad1_line(event_at="9999-12-31T23:45:00Z"))
    assert "outside" in rejection(ad1_line(received_at="9999-12-31T23:45:00Z"))


def test_a_cancellation_in_the_year_3000_is_still_read() -> None:
    event = parse_event_line(orjson.dumps(activation_line(execution_at="3000-12-31T00:00:00Z")))
    assert event.execution_at == ts("3000-12-31T00:00:00Z")  # type: ignore[union-attr]


def test_a_megabyte_timestamp_is_rejected_without_being_echoed() -> None:
    assert len(rejection(ad1_line(received_at="2" * 1_000_000))) < 200


# -- alert_id -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alert_id", "why"),
    [
        ("AD1\r\nX-Injected: 1", "visible ASCII"),
        ("AD1\n", "visible ASCII"),
        ("AD1-é", "visible ASCII"),
        ("AD1 1", "visible ASCII"),
        ("A" * 257, "at most 256"),
        (" ", "non-empty"),
    ],
)
def test_alert_ids_a_header_or_a_column_cannot_carry_are_rejected(alert_id: str, why: str) -> None:
    assert why in rejection(ad1_line(alert_id=alert_id))


def test_an_alert_id_of_256_visible_characters_is_read() -> None:
    alert_id = "=" + "x" * 254 + "~"
    assert parse_event_line(orjson.dumps(ad1_line(alert_id=alert_id))).alert_id == alert_id  # type: ignore[union-attr]


def test_a_duis_response_id_of_500000_characters_is_not_an_alert_id() -> None:
    message = duis_rejection(build.ad1_alert("R" * 500_000, CHF, None))
    assert "Header/ResponseID is 500,000 characters" in message


def test_a_duis_response_id_with_a_line_break_is_rejected() -> None:
    assert "visible ASCII" in duis_rejection(build.ad1_alert("AD1-&#13;&#10;1", CHF, None))


# -- error text -----------------------------------------------------------------------------


def test_a_megabyte_chf_id_gives_a_short_error() -> None:
    message = rejection(ad1_line(chf_id="0" * 1_000_000))
    assert "chf_id is 1,000,000 characters" in message


def test_a_megabyte_unknown_type_gives_a_short_error() -> None:
    assert len(rejection({"type": "x" * 1_000_000})) < 300


def test_a_megabyte_duis_device_id_gives_a_short_error() -> None:
    assert len(duis_rejection(build.ad1_alert("A1", "0" * 1_000_000, None))) < 300


def test_an_ignored_duis_code_is_shown_cut() -> None:
    xml = build.update_firmware(f"{USER}:{ESME}:1", ESME).replace(
        "<sr:ServiceReference>11.1<", f"<sr:ServiceReference>{'1' * 100_000}<"
    )
    assert len(parse_duis(xml.encode(), RECEIVED).what) < 100  # type: ignore[union-attr]


def test_a_long_firmware_hash_is_rejected() -> None:
    assert "firmware_hash" in rejection(activation_line(firmware_hash="A" * 257))


# -- CSV formula injection ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "\tx"]
)
def test_a_cell_a_spreadsheet_would_run_is_written_as_text(text: str) -> None:
    assert csv_cell(text) == "'" + text


def test_ordinary_cells_are_written_as_they_are() -> None:
    assert csv_cell("AD1-1") == "AD1-1"
    assert csv_cell(None) == ""
    assert csv_cell(datetime.fromisoformat("2026-03-01T10:00:00+00:00")) == "2026-03-01T10:00:00Z"


def test_a_formula_alert_id_reaches_the_csv_as_text() -> None:
    alert = ForwardedAlert(
        '=HYPERLINK("http://evil","x")', CHF, "12", RECEIVED, RECEIVED, RECEIVED, "no_active_window"
    )
    stream = io.StringIO()
    write_csv([alert], stream, FORWARDED_FIELDS)
    row = stream.getvalue().splitlines()[1]
    assert row.startswith("\"'=HYPERLINK(")
