"""DUIS XML messages to events (SPEC §6).

The parser is hardened: a message over 1 MiB, or one that carries a DTD, an entity declaration or
an external reference, is refused before any entity could be expanded or fetched (the
billion-laughs and XXE attacks); libxml2 is also told never to load a DTD, resolve an entity or
touch the network, in case a refused construct slipped past the first check. Signatures are not
verified: the DSP has done that before the message reaches poagate.
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from poagate.domain.events import (
    Activation,
    ActivationOutcome,
    Ad1Alert,
    DeviceMessage,
    Event,
    Ignored,
)
from poagate.domain.ids import IdentifierError, parse_device_id, parse_request_id
from poagate.formats.errors import InputError
from poagate.formats.timestamps import parse_timestamp

NAMESPACE = "http://www.dccinterface.co.uk/ServiceUserGateway"
MAX_MESSAGE_BYTES = 1024 * 1024

_NS = {"sr": NAMESPACE}
_REQUEST = f"{{{NAMESPACE}}}Request"
_RESPONSE = f"{{{NAMESPACE}}}Response"

# DUIS's AD1 body is not public. This is poagate's model of it, kept in this one place:
#   Body/DCCAlertMessage/DCCAlertCode = AD1
#   Body/DCCAlertMessage/DCCAlert/PowerOutageEvent/DeviceID            (the CHF)
#   Body/DCCAlertMessage/DCCAlert/PowerOutageEvent/PowerOutageStartDateTime (optional)
AD1_CODE = "AD1"
AD1_CHF_PATH = "sr:Body/sr:DCCAlertMessage/sr:DCCAlert/sr:PowerOutageEvent/sr:DeviceID"
AD1_OUTAGE_START_PATH = (
    "sr:Body/sr:DCCAlertMessage/sr:DCCAlert/sr:PowerOutageEvent/sr:PowerOutageStartDateTime"
)

FUTURE_DATED_OUTCOMES = {"8F66": True, "8F67": False}  # success, failure

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    collect_ids=False,
    remove_comments=True,
)


def _check_safe(data: bytes) -> None:
    if len(data) > MAX_MESSAGE_BYTES:
        raise InputError(
            f"DUIS message is {len(data):,} bytes; messages over 1 MiB "
            f"({MAX_MESSAGE_BYTES:,} bytes) are refused"
        )
    if b"<!" in data:
        for construct in (b"<!DOCTYPE", b"<!ENTITY"):
            if construct in data:
                raise InputError(
                    f"DUIS message contains {construct.decode()}: DTDs and entity declarations "
                    "are refused (they enable entity-expansion and external-entity attacks)"
                )


def _text(root: etree._Element, path: str) -> str | None:
    element = root.find(path, _NS)
    if element is None or element.text is None:
        return None
    text = element.text.strip()
    return text or None


def _required_text(root: etree._Element, path: str, what: str) -> str:
    text = _text(root, path)
    if text is None:
        raise InputError(f"DUIS {what}: {path.replace('sr:', '')} is missing or empty")
    return text


def parse_duis(data: bytes, received_at: datetime) -> Event | Ignored:
    """Map one DUIS message, received by the DSP at ``received_at``, to an event."""
    _check_safe(data)
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise InputError(f"DUIS message is not well-formed XML: {exc}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise InputError("DUIS message declares a DTD; DTDs are refused")
    if root.tag == _REQUEST:
        return _request(root, received_at)
    if root.tag == _RESPONSE:
        return _response(root, received_at)
    raise InputError(
        f"DUIS message root is {root.tag!r}; expected sr:Request or sr:Response "
        f"in namespace {NAMESPACE}"
    )


def _request(root: etree._Element, received_at: datetime) -> Event | Ignored:
    service = _required_text(root, "sr:Header/sr:ServiceReference", "request")
    if service != "11.3":
        return Ignored(received_at, f"DUIS request {service}")
    raw_id = _required_text(root, "sr:Header/sr:RequestID", "11.3 request")
    try:
        rid = parse_request_id(raw_id)
    except IdentifierError as exc:
        raise InputError(f"DUIS 11.3 request: {exc}") from None
    variant_text = _text(root, "sr:Header/sr:CommandVariant")
    variant = None
    if variant_text is not None:
        if (
            not (variant_text.isascii() and variant_text.isdigit())
            or not 1 <= int(variant_text) <= 8
        ):
            raise InputError(f"DUIS 11.3 request: CommandVariant {variant_text!r} is not 1 to 8")
        variant = int(variant_text)
    execution_text = _text(root, "sr:Body/sr:ActivateFirmware/sr:ExecutionDateTime")
    return Activation(
        request_id=str(rid),
        originator=rid.originator,
        device_id=rid.target,
        received_at=received_at,
        execution_at=None
        if execution_text is None
        else parse_timestamp(execution_text, "ExecutionDateTime"),
        command_variant=variant,
        firmware_hash=_text(root, "sr:Body/sr:ActivateFirmware/sr:FirmwareHash"),
    )


def _sender(root: etree._Element, what: str) -> str:
    """The device that sent a response: the first part of ``Header/ResponseID``."""
    response_id = _required_text(root, "sr:Header/sr:ResponseID", what)
    try:
        return parse_device_id(response_id.split(":", 1)[0])
    except IdentifierError as exc:
        raise InputError(f"DUIS {what}: ResponseID {response_id!r}: {exc}") from None


def _response(root: etree._Element, received_at: datetime) -> Event | Ignored:
    alert = root.find("sr:Body/sr:DCCAlertMessage", _NS)
    if alert is not None:
        code = _required_text(root, "sr:Body/sr:DCCAlertMessage/sr:DCCAlertCode", "DCC alert")
        if code != AD1_CODE:
            return Ignored(received_at, f"DCC alert {code}")
        chf_text = _required_text(root, AD1_CHF_PATH, "AD1 alert")
        try:
            chf_id = parse_device_id(chf_text)
        except IdentifierError as exc:
            raise InputError(f"DUIS AD1 alert: PowerOutageEvent/DeviceID: {exc}") from None
        outage_text = _text(root, AD1_OUTAGE_START_PATH)
        return Ad1Alert(
            alert_id=_required_text(root, "sr:Header/sr:ResponseID", "AD1 alert"),
            chf_id=chf_id,
            received_at=received_at,
            event_at=None
            if outage_text is None
            else parse_timestamp(outage_text, "PowerOutageStartDateTime"),
        )

    future = root.find("sr:Body/sr:ResponseMessage/sr:FutureDatedDeviceAlertMessage", _NS)
    if future is None:
        future = root.find("sr:Body/sr:FutureDatedDeviceAlertMessage", _NS)
    if future is not None:
        future_code = (_text(future, "sr:FutureDatedAlertCode") or "").upper()
        device = _sender(root, "future-dated device alert")
        if future_code in FUTURE_DATED_OUTCOMES:
            raw_request = _text(root, "sr:Header/sr:RequestID")
            request_id = None
            if raw_request is not None:
                try:
                    request_id = str(parse_request_id(raw_request))
                except IdentifierError as exc:
                    raise InputError(f"DUIS future-dated alert: {exc}") from None
            return ActivationOutcome(
                device_id=device,
                received_at=received_at,
                request_id=request_id,
                success=FUTURE_DATED_OUTCOMES[future_code],
            )
        return DeviceMessage(device_id=device, received_at=received_at)

    device_alert = root.find("sr:Body/sr:DeviceAlertMessage", _NS)
    if device_alert is None:
        device_alert = root.find("sr:Body/sr:ResponseMessage/sr:DeviceAlertMessage", _NS)
    if device_alert is not None:
        return DeviceMessage(device_id=_sender(root, "device alert"), received_at=received_at)

    response_code = _text(root, "sr:Header/sr:ResponseCode")
    if root.find("sr:Body/sr:ResponseMessage", _NS) is not None and response_code == "I0":
        return DeviceMessage(device_id=_sender(root, "response"), received_at=received_at)
    # An error (E…) comes from the DSP, not the device; other codes are not a sign of life.
    return Ignored(received_at, f"DUIS response {response_code or 'without ResponseCode'}")
