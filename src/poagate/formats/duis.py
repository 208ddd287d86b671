"""DUIS XML messages to events (spec §6).

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
from poagate.formats.limits import (
    check_alert_id,
    check_device_id_text,
    check_request_id_text,
    check_text,
    clipped,
    quoted,
)
from poagate.formats.timestamps import parse_timestamp

NAMESPACE = "http://www.dccinterface.co.uk/ServiceUserGateway"
MAX_MESSAGE_BYTES = 1024 * 1024

_REQUEST = f"{{{NAMESPACE}}}Request"
_RESPONSE = f"{{{NAMESPACE}}}Response"

# DUIS's AD1 body is not public. This is poagate's model of it, kept in this one place (``_ad1``):
#   Body/DCCAlertMessage/DCCAlertCode = AD1
#   Body/DCCAlertMessage/DCCAlert/PowerOutageEvent/DeviceID            (the CHF)
#   Body/DCCAlertMessage/DCCAlert/PowerOutageEvent/PowerOutageStartDateTime (optional)
AD1_CODE = "AD1"

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


_SR = f"{{{NAMESPACE}}}"
_HEADER, _BODY = _SR + "Header", _SR + "Body"
_DCC_ALERT_MESSAGE, _RESPONSE_MESSAGE = _SR + "DCCAlertMessage", _SR + "ResponseMessage"
_FUTURE_DATED, _DEVICE_ALERT = _SR + "FutureDatedDeviceAlertMessage", _SR + "DeviceAlertMessage"
_PRE_COMMAND = _SR + "PreCommand"

Children = dict[str, etree._Element]


def _children(element: etree._Element | None) -> Children:
    """An element's child elements by tag, the first of each (lxml's ElementPath ``find`` costs
    several microseconds a call; one pass over a few children costs less than one find)."""
    found: Children = {}
    if element is not None:
        for child in element:
            tag = child.tag
            if type(tag) is str and tag not in found:
                found[tag] = child
    return found


def _text(children: Children, name: str) -> str | None:
    element = children.get(_SR + name)
    if element is None or element.text is None:
        return None
    text = element.text.strip()
    return text or None


def _required(children: Children, name: str, where: str, what: str) -> str:
    text = _text(children, name)
    if text is None:
        raise InputError(f"DUIS {what}: {where}/{name} is missing or empty")
    return text


def parse_duis(data: bytes, received_at: datetime) -> Event | Ignored:
    """Map one DUIS message, received by the DSP at ``received_at``, to an event."""
    _check_safe(data)
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise InputError(f"DUIS message is not well-formed XML: {exc}") from None
    # A DTD the byte check could not see: another encoding (UTF-16 hides "<!DOCTYPE").
    if not data.lstrip().startswith(b"<?xml") or b"<!" in data or b"\x00" in data[:4]:
        docinfo = root.getroottree().docinfo
        if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
            raise InputError("DUIS message declares a DTD; DTDs are refused")
    if len(root) >= 2 and root[0].tag == _HEADER and root[1].tag == _BODY:
        header, body = _children(root[0]), _children(root[1])  # the usual layout
    else:
        top = _children(root)
        header, body = _children(top.get(_HEADER)), _children(top.get(_BODY))
    if root.tag == _REQUEST:
        return _request(header, body, received_at)
    if root.tag == _RESPONSE:
        return _response(header, body, received_at)
    raise InputError(
        f"DUIS message root is {quoted(root.tag)}; expected sr:Request or sr:Response "
        f"in namespace {NAMESPACE}"
    )


def _request(header: Children, body: Children, received_at: datetime) -> Event | Ignored:
    service = _required(header, "ServiceReference", "Header", "request")
    if service != "11.3":
        return Ignored(received_at, f"DUIS request {clipped(service)}")
    raw_id = _required(header, "RequestID", "Header", "11.3 request")
    try:
        check_request_id_text(raw_id, "DUIS 11.3 request: Header/RequestID")
        rid = parse_request_id(raw_id)
    except IdentifierError as exc:
        raise InputError(f"DUIS 11.3 request: {exc}") from None
    variant_text = _text(header, "CommandVariant")
    variant = None
    if variant_text is not None:
        if not (
            len(variant_text) <= 3
            and variant_text.isascii()
            and variant_text.isdigit()
            and 1 <= int(variant_text) <= 8
        ):
            raise InputError(
                f"DUIS 11.3 request: CommandVariant {quoted(variant_text)} is not 1 to 8"
            )
        variant = int(variant_text)
    activate = _children(body.get(_SR + "ActivateFirmware"))
    execution_text = _text(activate, "ExecutionDateTime")
    firmware_hash = _text(activate, "FirmwareHash")
    return Activation(
        request_id=str(rid),
        originator=rid.originator,
        device_id=rid.target,
        received_at=received_at,
        execution_at=None
        if execution_text is None
        else parse_timestamp(execution_text, "ExecutionDateTime"),
        command_variant=variant,
        firmware_hash=None
        if firmware_hash is None
        else check_text(firmware_hash, "DUIS 11.3 request: FirmwareHash"),
    )


def _sender(header: Children, what: str) -> str:
    """The device that sent a response: the first part of ``Header/ResponseID``."""
    response_id = _required(header, "ResponseID", "Header", what)
    sender = response_id.split(":", 1)[0]
    check_device_id_text(sender, f"DUIS {what}: the device in Header/ResponseID")
    try:
        return parse_device_id(sender)
    except IdentifierError as exc:
        raise InputError(f"DUIS {what}: ResponseID {quoted(response_id)}: {exc}") from None


def _ad1(header: Children, alert: Children, received_at: datetime) -> Event | Ignored:
    """poagate's model of the AD1 body (see AD1_CODE above)."""
    code = _required(alert, "DCCAlertCode", "Body/DCCAlertMessage", "DCC alert")
    if code != AD1_CODE:
        return Ignored(received_at, f"DCC alert {clipped(code)}")
    outage = _children(_children(alert.get(_SR + "DCCAlert")).get(_SR + "PowerOutageEvent"))
    where = "Body/DCCAlertMessage/DCCAlert/PowerOutageEvent"
    chf_text = _required(outage, "DeviceID", where, "AD1 alert")
    check_device_id_text(chf_text, f"DUIS AD1 alert: {where}/DeviceID")
    try:
        chf_id = parse_device_id(chf_text)
    except IdentifierError as exc:
        raise InputError(f"DUIS AD1 alert: PowerOutageEvent/DeviceID: {exc}") from None
    outage_text = _text(outage, "PowerOutageStartDateTime")
    return Ad1Alert(
        alert_id=check_alert_id(
            _required(header, "ResponseID", "Header", "AD1 alert"),
            "DUIS AD1 alert: Header/ResponseID",
        ),
        chf_id=chf_id,
        received_at=received_at,
        event_at=None
        if outage_text is None
        else parse_timestamp(outage_text, "PowerOutageStartDateTime"),
    )


def _future_dated(header: Children, future: Children, received_at: datetime) -> Event:
    code = (_text(future, "FutureDatedAlertCode") or "").upper()
    device = _sender(header, "future-dated device alert")
    if code not in FUTURE_DATED_OUTCOMES:
        return DeviceMessage(device_id=device, received_at=received_at)
    raw_request = _text(header, "RequestID")
    request_id = None
    if raw_request is not None:
        try:
            check_request_id_text(raw_request, "DUIS future-dated alert: Header/RequestID")
            request_id = str(parse_request_id(raw_request))
        except IdentifierError as exc:
            raise InputError(f"DUIS future-dated alert: {exc}") from None
    return ActivationOutcome(
        device_id=device,
        received_at=received_at,
        request_id=request_id,
        success=FUTURE_DATED_OUTCOMES[code],
    )


def _response(header: Children, body: Children, received_at: datetime) -> Event | Ignored:
    if _DCC_ALERT_MESSAGE in body:
        return _ad1(header, _children(body[_DCC_ALERT_MESSAGE]), received_at)
    message = _children(body.get(_RESPONSE_MESSAGE))
    if _PRE_COMMAND in message:
        # The DSP's reply to a CommandVariant 4 request, with or without a ResponseID: it comes
        # from the DSP, not the device, so it is never a sign of life (spec §6, §9, §14).
        return Ignored(received_at, "DUIS pre-command reply (CommandVariant 4)")
    for holder in (message, body):
        if _FUTURE_DATED in holder:
            return _future_dated(header, _children(holder[_FUTURE_DATED]), received_at)
    if _DEVICE_ALERT in body or _DEVICE_ALERT in message:
        return DeviceMessage(device_id=_sender(header, "device alert"), received_at=received_at)
    response_code = _text(header, "ResponseCode")
    if _RESPONSE_MESSAGE in body and response_code == "I0":
        return DeviceMessage(device_id=_sender(header, "response"), received_at=received_at)
    # An error (E…) comes from the DSP, not the device; other codes are not a sign of life.
    return Ignored(received_at, f"DUIS response {clipped(response_code or 'without ResponseCode')}")
