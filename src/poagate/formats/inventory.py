"""The inventory CSV (SPEC §3): a header row, then one device per row.

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
from poagate.domain.values import value
from poagate.formats.errors import InputError, Rejection, truncate_raw

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


@value
class InventoryFile:
    """What a load read: the good devices (later rows win) and the rows it rejected."""

    devices: tuple[Device, ...]
    rejected: tuple[Rejection, ...]
    rows_read: int


def normalise_postcode(text: str) -> str:
    """Upper case with one space before the inward code: ``sw1a1aa`` → ``SW1A 1AA``."""
    if " " in text and _POSTCODE.fullmatch(text):
        return text  # already canonical, the usual case
    match = _POSTCODE.fullmatch(" ".join(text.upper().split()))
    if match is None:
        raise InputError(f"postcode {text!r} is not a UK postcode such as SW1A 1AA")
    return f"{match.group(1)} {match.group(2)}"


def postcode_sector(postcode: str) -> str:
    """SPEC §9: the postcode without its last two characters, ``SW1A 1AA`` → ``SW1A 1``."""
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


def parse_device_row(
    raw_id: str,
    raw_type: str,
    raw_smets: str,
    manufacturer: str,
    raw_chf: str,
    raw_mpan: str,
    raw_operator: str,
    raw_postcode: str,
    *,
    pool: dict[str, str] | None = None,
) -> Device:
    """One row's cells to a device; raises ``InputError`` saying what is bad.

    Cells are trimmed only where the text as given does not parse: most inventories carry no
    stray spaces, and trimming every cell of every row is a measurable share of a large load.
    """
    device_id = _device_id_cell(raw_id, "device_id")
    device_type = _DEVICE_TYPES.get(raw_type) or _DEVICE_TYPES.get(raw_type.strip().upper())
    if device_type is None:
        raise InputError(f"device_type {raw_type!r} is not one of {' '.join(_DEVICE_TYPES)}")
    smets = _SMETS.get(raw_smets) or _SMETS.get(raw_smets.strip().upper())
    if smets is None:
        raise InputError(f"smets_version {raw_smets!r} is not SMETS1 or SMETS2")
    chf_id = _device_id_cell(raw_chf, "chf_id") if raw_chf and not raw_chf.isspace() else None
    mpan = None
    mpan_text = raw_mpan if raw_mpan.isdigit() else raw_mpan.strip()
    if mpan_text:
        try:
            mpan = parse_mpan(mpan_text)
        except IdentifierError as exc:
            raise InputError(str(exc)) from None
    elif device_type is DeviceType.ESME:
        raise InputError("mpan is required for an ESME (it routes the ESME's alerts to its DNO)")
    operator_text = raw_operator if raw_operator.isdigit() else raw_operator.strip()
    if operator_text:
        try:
            network_operator = parse_network_operator(operator_text)
        except IdentifierError as exc:
            raise InputError(str(exc)) from None
    else:
        network_operator = "" if mpan is None else mpan[:2]
    postcode_text = raw_postcode.strip() if raw_postcode[-1:].isspace() else raw_postcode
    postcode = normalise_postcode(postcode_text) if postcode_text else None
    manufacturer = manufacturer.strip()
    if pool is not None:
        device_id = pool.setdefault(device_id, device_id)
        manufacturer = pool.setdefault(manufacturer, manufacturer)
        network_operator = pool.setdefault(network_operator, network_operator)
        if chf_id is not None:
            chf_id = pool.setdefault(chf_id, chf_id)
        if postcode is not None:
            postcode = pool.setdefault(postcode, postcode)
    return Device(
        device_id, device_type, smets, manufacturer, chf_id, mpan, network_operator, postcode
    )


def read_inventory(stream: IO[str], source: str) -> InventoryFile:
    """Read an inventory CSV. Raises ``InputError`` only when the header is unusable."""
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{source}: the inventory is empty; it needs a header row") from None
    except csv.Error as exc:
        raise InputError(f"{source}: line 1: {exc}") from None
    names = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise InputError(
            f"{source}: the header lacks column(s) {', '.join(missing)}; "
            f"expected {','.join(COLUMNS)}"
        )
    positions = [names.index(name) for name in COLUMNS if name != "model"]
    devices: dict[str, Device] = {}
    rejected: list[Rejection] = []
    # One string object for each repeated value (a manufacturer, an operator, a postcode, a
    # hub's Device ID on its own row and on its ESME's): a large inventory is mostly these.
    pool: dict[str, str] = {}
    rows = 0
    line = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rows += 1
            rejected.append(Rejection(source, reader.line_num, f"unreadable CSV: {exc}", ""))
            continue
        line = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        rows += 1
        if len(row) != len(names):
            rejected.append(
                Rejection(
                    source,
                    line,
                    f"row has {len(row)} fields; the header has {len(names)}",
                    truncate_raw(",".join(row)),
                )
            )
            continue
        try:
            device = parse_device_row(*[row[i] for i in positions], pool=pool)
        except InputError as exc:
            rejected.append(Rejection(source, line, str(exc), truncate_raw(",".join(row))))
            continue
        devices.pop(device.device_id, None)  # the later row wins, and keeps file order
        devices[device.device_id] = device
    return InventoryFile(tuple(devices.values()), tuple(rejected), rows)


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
