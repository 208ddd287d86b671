"""The inventory CSV (spec §3): a header row, then one device per row.

Bad rows are rejected with their line number and the reason; good rows still load. Within one
file the later row for a device wins.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import IO

from poagate.domain.ids import (
    IdentifierError,
    parse_device_id,
    parse_mpan,
    parse_network_operator,
)
from poagate.domain.reference import Device, DeviceType, SmetsVersion
from poagate.formats.errors import InputError

COLUMNS = (
    "device_id",
    "device_type",
    "smets_version",
    "manufacturer",
    "model",
    "chf_id",
    "mpan",
    "network_operator",
    "postcode",
)
_DEVICE_TYPES = {t.value: t for t in DeviceType}
_SMETS = {s.value: s for s in SmetsVersion}
# A UK postcode: outward code (area, district) and inward code (sector digit, unit letters).
_POSTCODE = re.compile(r"([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})")


def normalise_postcode(text: str) -> str:
    """Upper case with one space before the inward code: ``sw1a1aa`` → ``SW1A 1AA``."""
    if " " in text and _POSTCODE.fullmatch(text):
        return text  # already canonical, the usual case
    match = _POSTCODE.fullmatch(" ".join(text.upper().split()))
    if match is None:
        raise InputError(f"postcode {text!r} is not a UK postcode such as SW1A 1AA")
    return f"{match.group(1)} {match.group(2)}"


def postcode_sector(postcode: str) -> str:
    """spec §9: the postcode without its last two characters, ``SW1A 1AA`` → ``SW1A 1``."""
    return postcode[:-2]


def _device_id_cell(text: str, column: str) -> str:
    try:
        return parse_device_id(text)
    except IdentifierError:
        stripped = text.strip()
        if stripped != text:
            return _device_id_cell(stripped, column)
        raise InputError(f"{column}: {parse_error(text)}") from None


def parse_error(text: str) -> str:
    try:
        parse_device_id(text)
    except IdentifierError as exc:
        return str(exc)
    return ""


def chf_cell(raw: str) -> str | None:
    """The ``chf_id`` cell: a Device ID, or None when empty."""
    return _device_id_cell(raw, "chf_id") if raw and not raw.isspace() else None


def mpan_cell(raw: str) -> str | None:
    """The ``mpan`` cell: a checked MPAN core, or None when empty."""
    text = raw if raw.isdigit() else raw.strip()
    if not text:
        return None
    try:
        return parse_mpan(text)
    except IdentifierError as exc:
        raise InputError(str(exc)) from None


def operator_cell(raw: str, mpan: str | None) -> str:
    """The ``network_operator`` cell; when empty, the MPAN's first two digits, else empty."""
    text = raw if raw.isdigit() else raw.strip()
    if not text:
        return "" if mpan is None else mpan[:2]
    try:
        return parse_network_operator(text)
    except IdentifierError as exc:
        raise InputError(str(exc)) from None


def postcode_cell(raw: str) -> str | None:
    """The ``postcode`` cell in canonical form, or None when empty."""
    text = raw.strip() if raw[-1:].isspace() else raw
    return normalise_postcode(text) if text else None


def parse_device_row(
    raw_id: str,
    raw_type: str,
    raw_smets: str,
    manufacturer: str,
    raw_chf: str,
    raw_mpan: str,
    raw_operator: str,
    raw_postcode: str,
) -> Device:
    """One row's cells to a device; raises ``InputError`` saying what is bad (the first of its
    faults, in column order, with the MPAN an ESME needs checked after its own cell).

    Cells are trimmed only where the text as given does not parse: most inventories carry no
    stray spaces. A load checks most rows in bulk (``inventory_columns``) and hands this
    function only the rows that are not plainly canonical, so this is the one statement of what
    a row may hold.
    """
    device_id = _device_id_cell(raw_id, "device_id")
    device_type = _DEVICE_TYPES.get(raw_type) or _DEVICE_TYPES.get(raw_type.strip().upper())
    if device_type is None:
        raise InputError(f"device_type {raw_type!r} is not one of {' '.join(_DEVICE_TYPES)}")
    smets = _SMETS.get(raw_smets) or _SMETS.get(raw_smets.strip().upper())
    if smets is None:
        raise InputError(f"smets_version {raw_smets!r} is not SMETS1 or SMETS2")
    chf_id = chf_cell(raw_chf)
    mpan = mpan_cell(raw_mpan)
    if mpan is None and device_type is DeviceType.ESME:
        raise InputError("mpan is required for an ESME (it routes the ESME's alerts to its DNO)")
    network_operator = operator_cell(raw_operator, mpan)
    postcode = postcode_cell(raw_postcode)
    return Device(
        device_id,
        device_type,
        smets,
        manufacturer.strip(),
        chf_id,
        mpan,
        network_operator,
        postcode,
    )


def write_inventory(devices: Iterable[Device], stream: IO[str]) -> None:
    """Write devices as an inventory CSV (the simulator and the tests use this)."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    for d in devices:
        writer.writerow(
            (
                d.device_id,
                d.device_type.value,
                d.smets_version.value,
                d.manufacturer,
                "",
                d.chf_id or "",
                d.mpan or "",
                d.network_operator,
                d.postcode or "",
            )
        )
