"""spec §6: DUIS XML to events. The DCC's real request templates are read in place from the
cache ``make templates`` fills; responses and alerts are the project's own fixtures."""

from __future__ import annotations

import pytest

from poagate.domain.events import (
    Activation,
    ActivationKind,
    ActivationOutcome,
    Ad1Alert,
    DeviceMessage,
    Ignored,
)
from poagate.formats.duis import MAX_MESSAGE_BYTES, parse_duis
from poagate.formats.errors import InputError
from poagate.sim import duis as build
from tests.helpers import CHF, ESME, FIXTURES, USER, duis_template, ts

RECEIVED = ts("2026-03-01T10:04:00Z")


def template(name: str) -> bytes:
    return duis_template(name).read_bytes()


def fixture(name: str) -> bytes:
    return (FIXTURES / "duis" / name).read_bytes()


def test_real_immediate_11_3_template_is_an_immediate_activation() -> None:
    event = parse_duis(template("CS06_11.3_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"), RECEIVED)
    assert isinstance(event, Activation)
    assert event.request_id == f"{USER}:{ESME}:1000"
    assert (event.originator, event.device_id) == (USER, ESME)
    assert event.kind is ActivationKind.IMMEDIATE
    assert event.execution_at is None
    assert event.command_variant == 4
    assert event.firmware_hash == (
        "AA758690730934FF0685AA758690730934FF0685657788990011223344556677"
    )
    assert event.received_at == RECEIVED


def test_real_future_dated_template_carries_its_execution_time() -> None:
    event = parse_duis(template("CS06_11.3_FUTURE_DATED_SUCCESS_REQUEST_DUIS.XML"), RECEIVED)
    assert isinstance(event, Activation)
    assert event.kind is ActivationKind.FUTURE_DATED
    assert event.execution_at == ts("2030-01-15T09:00:00Z")
    assert event.request_id.endswith(":1001")


def test_real_cancellation_template_is_a_cancellation() -> None:
    event = parse_duis(template("CS06_11.3_CANCELLATION_SUCCESS_REQUEST_DUIS.XML"), RECEIVED)
    assert isinstance(event, Activation)
    assert event.kind is ActivationKind.CANCELLATION
    assert event.execution_at == ts("3000-12-31T00:00:00Z")


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("11.1_UPDATE_FIRMWARE_REQUEST_DUIS.XML", "DUIS request 11.1"),
        ("8.2_READ_INVENTORY_REQUEST_DUIS.XML", "DUIS request 8.2"),
    ],
)
def test_real_requests_of_other_services_are_accepted_and_ignored(name: str, what: str) -> None:
    event = parse_duis(template(name), RECEIVED)
    assert event == Ignored(RECEIVED, what)


def test_an_error_response_comes_from_the_dsp_and_is_ignored_though_it_names_the_device() -> None:
    event = parse_duis(fixture("acknowledgement_error.xml"), RECEIVED)
    assert event == Ignored(RECEIVED, "DUIS response E30")


def test_device_response_is_a_sign_of_life_from_the_sending_device() -> None:
    event = parse_duis(fixture("firmware_version_response.xml"), RECEIVED)
    assert event == DeviceMessage(ESME, RECEIVED)  # the first part of its ResponseID


@pytest.mark.parametrize(
    "name", ["precommand_reply.xml", "precommand_reply_without_response_id.xml"]
)
def test_the_dsps_pre_command_reply_is_ignored_with_or_without_a_response_id(name: str) -> None:
    # spec §6: the reply to a CommandVariant 4 request comes from the DSP: never a sign of
    # life, and never rejected for want of a ResponseID.
    event = parse_duis(fixture(name), RECEIVED)
    assert event == Ignored(RECEIVED, "DUIS pre-command reply (CommandVariant 4)")


def test_ad1_alert_maps_response_id_chf_and_outage_start() -> None:
    event = parse_duis(fixture("ad1_power_outage.xml"), RECEIVED)
    assert event == Ad1Alert(
        alert_id=f"{CHF}:{USER}:1700000000001",
        chf_id=CHF,  # lower case in the message, canonical here
        received_at=RECEIVED,
        event_at=ts("2026-03-01T10:01:00Z"),
    )


def test_ad1_without_outage_start_has_no_event_at() -> None:
    event = parse_duis(fixture("ad1_without_start_time.xml"), RECEIVED)
    assert isinstance(event, Ad1Alert)
    assert event.chf_id == CHF
    assert event.event_at is None
    assert event.outage_at == RECEIVED


def test_other_dcc_alerts_are_ignored() -> None:
    assert parse_duis(fixture("dcc_alert_other.xml"), RECEIVED) == Ignored(
        RECEIVED, "DCC alert AD2"
    )


@pytest.mark.parametrize(
    ("name", "success"), [("future_dated_8f66.xml", True), ("future_dated_8f67.xml", False)]
)
def test_future_dated_alerts_are_activation_outcomes(name: str, success: bool) -> None:
    event = parse_duis(fixture(name), RECEIVED)
    assert event == ActivationOutcome(ESME, RECEIVED, f"{USER}:{ESME}:1001", success)


def test_any_other_device_alert_is_a_device_message() -> None:
    assert parse_duis(fixture("device_alert.xml"), RECEIVED) == DeviceMessage(ESME, RECEIVED)


def test_simulator_messages_parse_as_the_fixtures_do() -> None:
    xml = build.ad1_alert("A-1", CHF, ts("2026-03-01T10:01:00Z")).encode()
    assert parse_duis(xml, RECEIVED) == Ad1Alert("A-1", CHF, RECEIVED, ts("2026-03-01T10:01:00Z"))
    rid = f"{USER}:{ESME}:77"
    assert parse_duis(build.future_dated_outcome(ESME, USER, rid, False).encode(), RECEIVED) == (
        ActivationOutcome(ESME, RECEIVED, rid, False)
    )
    assert parse_duis(build.success_response(ESME, USER, 5).encode(), RECEIVED) == (
        DeviceMessage(ESME, RECEIVED)
    )


# -- hardening ----------------------------------------------------------------------------------


def test_billion_laughs_is_refused_before_any_expansion() -> None:
    with pytest.raises(InputError, match="DOCTYPE: DTDs and entity declarations are refused"):
        parse_duis(fixture("billion_laughs.xml"), RECEIVED)


def test_external_entity_is_refused() -> None:
    with pytest.raises(InputError, match="DTDs and entity declarations are refused"):
        parse_duis(fixture("xxe.xml"), RECEIVED)


def test_dtd_in_another_encoding_is_refused_by_the_parser_check() -> None:
    # UTF-16 hides the "<!DOCTYPE" bytes from the first check; the parser's docinfo catches it.
    xml = fixture("xxe.xml").decode().replace('<?xml version="1.0"?>', "")
    data = ('<?xml version="1.0" encoding="UTF-16"?>' + xml).encode("utf-16")
    with pytest.raises(InputError, match="DTD"):
        parse_duis(data, RECEIVED)


def test_message_over_one_mebibyte_is_refused() -> None:
    big = template("11.1_UPDATE_FIRMWARE_REQUEST_DUIS.XML").replace(
        b"</sr:FirmwareImage>", b"A" * MAX_MESSAGE_BYTES + b"</sr:FirmwareImage>"
    )
    with pytest.raises(InputError, match="over 1 MiB"):
        parse_duis(big, RECEIVED)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<sr:Request", "not well-formed XML"),
        (b"<Request/>", "root is 'Request'; expected sr:Request or sr:Response"),
        (
            b'<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway">'
            b"<sr:Header/></sr:Request>",
            "Header/ServiceReference is missing",
        ),
        (
            b'<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway"><sr:Header>'
            b"<sr:ServiceReference>11.3</sr:ServiceReference></sr:Header></sr:Request>",
            "Header/RequestID is missing",
        ),
        (
            b'<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway"><sr:Header>'
            b"<sr:RequestID>1:2:3</sr:RequestID>"
            b"<sr:ServiceReference>11.3</sr:ServiceReference></sr:Header></sr:Request>",
            "not a Device ID",
        ),
    ],
)
def test_unreadable_messages_say_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_duis(data, RECEIVED)


def test_bad_execution_time_is_reported_with_its_element() -> None:
    data = template("CS06_11.3_FUTURE_DATED_SUCCESS_REQUEST_DUIS.XML").replace(
        b"2030-01-15T09:00:00.00Z", b"2030-01-15T09:00:00"
    )
    with pytest.raises(InputError, match=r"ExecutionDateTime .* has no time zone"):
        parse_duis(data, RECEIVED)


def test_ad1_with_a_bad_chf_says_which_element() -> None:
    data = fixture("ad1_power_outage.xml").replace(b"00-db-12-34-56-78-90-c0", b"hub-17")
    with pytest.raises(InputError, match="PowerOutageEvent/DeviceID: 'hub-17' is not a Device ID"):
        parse_duis(data, RECEIVED)
