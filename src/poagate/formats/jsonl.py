"""Canonical JSON Lines events (spec §4): one object per line, ``type`` says which.

``parse_event_line`` turns one line into a domain event, or raises ``InputError`` saying which
field is wrong and why. Unknown extra fields are ignored so that producers can add context
without breaking the gate; ``null`` means absent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from poagate.domain.events import (
    Activation,
    ActivationOutcome,
    Ad1Alert,
    DeviceMessage,
    Event,
    Ignored,
)
from poagate.domain.ids import IdentifierError, RequestId, parse_device_id, parse_request_id
from poagate.formats import duis
from poagate.formats.errors import InputError
from poagate.formats.limits import (
    EARLIEST_YEAR,
    LATEST_YEAR,
    MAX_ALERT_ID_LENGTH,
    check_alert_id,
    check_device_id_text,
    check_request_id_text,
    check_text,
    quoted,
)
from poagate.formats.timestamps import describe_type, parse_timestamp, to_us

# Device IDs repeat across millions of alerts (one CHF raises many); remembering the canonical
# form of each spelling saves the regular expression on the hot path.
_device_ids: dict[str, str] = {}
_DEVICE_ID_CACHE_LIMIT = 2_000_000


def remember_device_ids(device_ids: Iterable[str]) -> None:
    """Seed the cache with Device IDs already held elsewhere (the inventory's), so that events
    naming those devices share the inventory's strings instead of keeping copies."""
    for canonical in device_ids:
        _device_ids.setdefault(canonical, canonical)


def device_id(value: object, field: str) -> str:
    """A Device ID field in canonical form."""
    if type(value) is str:
        canonical = _device_ids.get(value)
        if canonical is not None:
            return canonical
        check_device_id_text(value, field)
        try:
            canonical = parse_device_id(value)
        except IdentifierError as exc:
            raise InputError(f"{field}: {exc}") from None
        if len(_device_ids) >= _DEVICE_ID_CACHE_LIMIT:
            _device_ids.clear()
        _device_ids[value] = canonical
        return canonical
    raise InputError(f"{field} must be a Device ID string, not {describe_type(value)}")


def _required(obj: Mapping[str, Any], field: str, kind: str) -> object:
    value = obj.get(field)
    if value is None:
        raise InputError(f"missing required field {field!r} for type {kind!r}")
    return value


def _optional_timestamp(obj: Mapping[str, Any], field: str) -> datetime | None:
    value = obj.get(field)
    return None if value is None else parse_timestamp(value, field)


def _ad1(obj: Mapping[str, Any]) -> Ad1Alert:
    """The hot path of a replay: a well-formed AD1 is read with a handful of dictionary lookups;
    anything unusual goes through ``_ad1_checked``, which explains what is wrong."""
    alert_id = obj.get("alert_id")
    raw_chf = obj.get("chf_id")
    chf = _device_ids.get(raw_chf) if type(raw_chf) is str else None
    if chf is None and type(raw_chf) is str:
        try:
            chf = device_id(raw_chf, "chf_id")
        except InputError:
            return _ad1_checked(obj)
    received = obj.get("received_at")
    event = obj.get("event_at")
    if (
        chf is not None
        and type(alert_id) is str
        and 0 < len(alert_id) <= MAX_ALERT_ID_LENGTH  # visible ASCII (formats.limits), inline:
        and alert_id.isascii()
        and alert_id.isprintable()
        and " " not in alert_id
        and type(received) is str
        and (event is None or type(event) is str)
    ):
        try:
            received_at = datetime.fromisoformat(received)
            event_at = None if event is None else datetime.fromisoformat(event)
        except ValueError:
            pass
        else:
            if (
                received_at.tzinfo is UTC
                and EARLIEST_YEAR <= received_at.year < LATEST_YEAR
                and (
                    event_at is None
                    or (event_at.tzinfo is UTC and EARLIEST_YEAR <= event_at.year < LATEST_YEAR)
                )
            ):
                return Ad1Alert(alert_id, chf, received_at, event_at)
    return _ad1_checked(obj)


def _ad1_checked(obj: Mapping[str, Any]) -> Ad1Alert:
    alert_id = _required(obj, "alert_id", "ad1")
    if type(alert_id) is not str:
        raise InputError(f"alert_id must be a non-empty string, not {describe_type(alert_id)}")
    return Ad1Alert(
        check_alert_id(alert_id),
        device_id(_required(obj, "chf_id", "ad1"), "chf_id"),
        parse_timestamp(_required(obj, "received_at", "ad1"), "received_at"),
        _optional_timestamp(obj, "event_at"),
    )


def _parse_request_id(text: str) -> RequestId:
    """A request_id whose Device IDs come through the cache, so they share strings."""
    check_request_id_text(text)
    parts = text.split(":")
    if len(parts) == 3:
        originator = _device_ids.get(parts[0])
        target = _device_ids.get(parts[1])
        counter = parts[2]
        if (
            originator is not None
            and target is not None
            and counter.isascii()
            and counter.isdigit()
        ):
            return RequestId(originator, target, int(counter))
    rid = parse_request_id(text)
    return RequestId(
        _device_ids.setdefault(rid.originator, rid.originator),
        _device_ids.setdefault(rid.target, rid.target),
        rid.counter,
    )


def request_id(value: object, field: str = "request_id") -> str:
    """A request_id field in canonical form (both Device IDs canonical, counter unpadded)."""
    if type(value) is not str:
        raise InputError(f"{field} must be a string, not {describe_type(value)}")
    check_request_id_text(value, field)
    try:
        return str(parse_request_id(value))
    except IdentifierError as exc:
        raise InputError(str(exc)) from None


def command_variant(value: object) -> int | None:
    """DUIS CommandVariant: 1 to 8, as a number or a decimal string."""
    if value is None:
        return None
    if type(value) is str and len(value) <= 3 and value.isascii() and value.isdigit():
        value = int(value)
    if type(value) is not int or not 1 <= value <= 8:
        raise InputError(
            f"command_variant {quoted(value)} must be a DUIS CommandVariant from 1 to 8"
        )
    return value


def _activation(obj: Mapping[str, Any]) -> Activation:
    raw_id = _required(obj, "request_id", "activation")
    if type(raw_id) is not str:
        raise InputError(f"request_id must be a string, not {describe_type(raw_id)}")
    try:
        rid = _parse_request_id(raw_id)
    except IdentifierError as exc:
        raise InputError(str(exc)) from None
    firmware_hash = obj.get("firmware_hash")
    if firmware_hash is not None and type(firmware_hash) is not str:
        raise InputError(f"firmware_hash must be a string, not {describe_type(firmware_hash)}")
    if firmware_hash is not None:
        check_text(firmware_hash, "firmware_hash")
    return Activation(
        request_id=str(rid),
        originator=rid.originator,
        device_id=rid.target,
        received_at=parse_timestamp(_required(obj, "received_at", "activation"), "received_at"),
        execution_at=_optional_timestamp(obj, "execution_at"),
        command_variant=command_variant(obj.get("command_variant")),
        firmware_hash=firmware_hash,
    )


def _activation_outcome(obj: Mapping[str, Any]) -> ActivationOutcome:
    rid = obj.get("request_id")
    success = obj.get("success")
    if success is not None and type(success) is not bool:
        raise InputError(f"success must be true or false, not {describe_type(success)}")
    return ActivationOutcome(
        device_id=device_id(_required(obj, "device_id", "activation_outcome"), "device_id"),
        received_at=parse_timestamp(
            _required(obj, "received_at", "activation_outcome"), "received_at"
        ),
        request_id=None if rid is None else request_id(rid),
        success=success,
    )


def _device_message(obj: Mapping[str, Any]) -> DeviceMessage:
    return DeviceMessage(
        device_id=device_id(_required(obj, "device_id", "device_message"), "device_id"),
        received_at=parse_timestamp(_required(obj, "received_at", "device_message"), "received_at"),
    )


def _duis(obj: Mapping[str, Any]) -> Event | Ignored:
    received_at = parse_timestamp(_required(obj, "received_at", "duis"), "received_at")
    xml = _required(obj, "xml", "duis")
    if type(xml) is not str:
        raise InputError(f"xml must be a string holding the DUIS message, not {describe_type(xml)}")
    return duis.parse_duis(xml.encode("utf-8"), received_at)


_PARSERS: dict[str, Callable[[Mapping[str, Any]], Event | Ignored]] = {
    "ad1": _ad1,
    "activation": _activation,
    "activation_outcome": _activation_outcome,
    "device_message": _device_message,
    "duis": _duis,
}
EVENT_TYPES = tuple(_PARSERS)


def parse_event(obj: object) -> Event | Ignored:
    """A decoded JSON value to an event."""
    if type(obj) is not dict:
        raise InputError(f"line is not a JSON object (found {describe_type(obj)})")
    kind = obj.get("type")
    if kind == "ad1":
        return _ad1(obj)  # most lines
    parser = _PARSERS.get(kind) if type(kind) is str else None
    if parser is None:
        if kind is None:
            raise InputError("missing required field 'type'")
        raise InputError(f"unknown type {quoted(kind)}: expected one of {', '.join(EVENT_TYPES)}")
    return parser(obj)


def parse_event_line(line: bytes | str) -> Event | Ignored:
    """One JSON Lines line to an event; raises ``InputError`` when it cannot be read."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}") from None
    return parse_event(obj)


def received_at_of(obj: object) -> datetime | None:
    """The ``received_at`` of a decoded line, or None when it has none that can be read.

    Used to order input before the full parse; a line that fails here is rejected in place.
    """
    if type(obj) is not dict:
        return None
    try:
        return parse_timestamp(obj.get("received_at"), "received_at")
    except InputError:
        return None


_RECEIVED_KEY = b'"received_at"'
_STRING_VALUE = re.compile(rb'\s*:\s*"([^"\\]*)"')


def received_at_us(line: bytes) -> int | None:
    """The ``received_at`` of a line in microseconds, or None when it has none readable.

    This orders the input before the full parse, so it is cheap: in valid JSON the token
    ``"received_at"`` followed by a colon can only be a key, so when it occurs once and holds a
    plain string, that string is the value; anything else falls back to a full parse. A line
    that gives None here is rejected by the full parse, in its place in the file.
    """
    at = line.find(_RECEIVED_KEY)
    if at >= 0 and line.find(_RECEIVED_KEY, at + len(_RECEIVED_KEY)) < 0:
        match = _STRING_VALUE.match(line, at + len(_RECEIVED_KEY))
        if match is not None:
            try:
                return to_us(parse_timestamp(match.group(1).decode("utf-8"), "received_at"))
            except (InputError, UnicodeDecodeError):
                return None
    try:
        moment = received_at_of(orjson.loads(line))
    except orjson.JSONDecodeError:
        return None
    return None if moment is None else to_us(moment)
