"""Identifiers of the smart metering system: Device IDs, MPANs and DUIS Request IDs.

Each parser takes text as it arrives, checks it and returns the canonical form that poagate stores
and outputs (spec §2, §4). A bad identifier raises ``IdentifierError`` whose message says what
was wrong in words an operator can act on.
"""

from __future__ import annotations

import re

from poagate.domain.values import value


class IdentifierError(ValueError):
    """An identifier that does not have the form docs/spec.md requires."""


_CANONICAL = re.compile(r"[0-9A-F]{2}(?:-[0-9A-F]{2}){7}")
_HYPHENATED = re.compile(r"[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){7}")
_PLAIN = re.compile(r"[0-9A-Fa-f]{16}")


def parse_device_id(text: str) -> str:
    """Return the canonical Device ID (EUI-64, ``00-DB-12-34-56-78-90-A0``).

    Accepts upper or lower case, hyphenated or as 16 hex digits without separators.
    """
    if len(text) == 23:
        if _CANONICAL.fullmatch(text):
            return text
        if _HYPHENATED.fullmatch(text):
            return text.upper()
    if len(text) == 16 and _PLAIN.fullmatch(text):
        u = text.upper()
        return f"{u[0:2]}-{u[2:4]}-{u[4:6]}-{u[6:8]}-{u[8:10]}-{u[10:12]}-{u[12:14]}-{u[14:16]}"
    raise IdentifierError(
        f"{text!r} is not a Device ID: expected 8 hex pairs joined by hyphens "
        "(00-DB-12-34-56-78-90-A0) or 16 hex digits"
    )


MPAN_WEIGHTS = (3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43)
_ZERO_OFFSET = ord("0") * sum(MPAN_WEIGHTS)


def mpan_check_digit(first_twelve: str) -> int:
    """The MPAN core's check digit for its first 12 ASCII digits (spec §2): multiply digits 1..12
    by 3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43, sum, mod 11, mod 10.

    Unrolled on the digits' byte values: an inventory load checks every ESME's MPAN.
    """
    d = first_twelve.encode("ascii")
    if len(d) != 12:
        raise ValueError("an MPAN check digit needs exactly 12 digits")
    total = (
        d[0] * 3
        + d[1] * 5
        + d[2] * 7
        + d[3] * 13
        + d[4] * 17
        + d[5] * 19
        + d[6] * 23
        + d[7] * 29
        + d[8] * 31
        + d[9] * 37
        + d[10] * 41
        + d[11] * 43
        - _ZERO_OFFSET
    )
    return total % 11 % 10


def parse_mpan(text: str) -> str:
    """Return the 13-digit MPAN core, checking its length and check digit."""
    if len(text) != 13 or not (text.isascii() and text.isdigit()):
        raise IdentifierError(f"MPAN {text!r} must be exactly 13 digits")
    expected = mpan_check_digit(text[:12])
    if int(text[12]) != expected:
        raise IdentifierError(
            f"MPAN {text!r} fails its check digit: the last digit should be {expected}"
        )
    return text


def parse_network_operator(text: str) -> str:
    """A distributor id: two digits (10..23 are the 14 licensed DNO areas, 24+ IDNOs)."""
    if len(text) != 2 or not (text.isascii() and text.isdigit()):
        raise IdentifierError(f"network operator {text!r} must be a two-digit distributor id")
    return text


@value
class RequestId:
    """A DUIS RequestID ``UserID:TargetDeviceID:Counter`` in canonical form."""

    originator: str
    target: str
    counter: int

    def __str__(self) -> str:
        return f"{self.originator}:{self.target}:{self.counter}"


def parse_request_id(text: str) -> RequestId:
    """Parse ``DeviceID:DeviceID:decimal counter``; the counter loses any leading zeros."""
    parts = text.split(":")
    if len(parts) != 3:
        raise IdentifierError(
            f"request_id {text!r} must have three parts UserID:TargetDeviceID:Counter"
        )
    originator, target, counter = parts
    if not (counter.isascii() and counter.isdigit()):
        raise IdentifierError(f"request_id {text!r}: counter {counter!r} is not a decimal number")
    try:
        return RequestId(parse_device_id(originator), parse_device_id(target), int(counter))
    except IdentifierError as exc:
        raise IdentifierError(f"request_id {text!r}: {exc}") from None
