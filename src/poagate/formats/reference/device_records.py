"""A device of the inventory as a packed record (spec §11): no Python object per device.

A record is 38 bytes (``DEVICE``): its Device ID as a 64-bit number, its hub's, its MPAN, its
postcode as 8 bytes, its manufacturer as a number in its load's list of names, and its type,
SMETS version and network operator as one byte each. The store keeps versions of the fleet as
blocks of these (``poagate.store.reference.fleet_blocks``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from poagate.domain.reference import Device, DeviceType, SmetsVersion
from poagate.formats.errors import InputError

_FIELDS = [
    ("key", "<u8"),
    ("chf", "<u8"),
    ("mpan", "<u8"),
    ("postcode", "S8"),
    ("manufacturer", "<u2"),
    ("type", "u1"),
    ("smets", "u1"),
    ("operator", "u1"),
    ("flags", "u1"),
]
DEVICE = np.dtype(_FIELDS)
# A record as read from a file: with its line, so that the later row for a device wins.
STAGED = np.dtype([*_FIELDS, ("line", "<u4")])
HAS_CHF, HAS_MPAN, HAS_POSTCODE = 1, 2, 4
NO_OPERATOR = 255
TYPES = tuple(DeviceType)
SMETS = tuple(SmetsVersion)
ESME_CODE = TYPES.index(DeviceType.ESME)
MAX_MANUFACTURERS = 65_535

Records = npt.NDArray[np.void]
Keys = npt.NDArray[np.uint64]


def device_key(device_id: str) -> int:
    """A canonical Device ID as its 64-bit number."""
    return int(device_id.replace("-", ""), 16)


def device_id_of(key: int) -> str:
    """The canonical Device ID of a 64-bit number: ``00-DB-12-34-56-78-90-A0``."""
    return key.to_bytes(8, "big").hex("-").upper()


@dataclass(slots=True)
class Manufacturers:
    """A load's manufacturer names (trimmed, as the inventory holds them), numbered in order of
    first appearance."""

    names: list[str] = field(default_factory=list)
    _codes: dict[str, int] = field(default_factory=dict)  # by the cell as given

    def __post_init__(self) -> None:
        self._codes = {name: code for code, name in enumerate(self.names)}

    def known(self, cell: str) -> int:
        """The number of a name already seen spelt as ``cell``, else -1."""
        return self._codes.get(cell, -1)

    def code(self, cell: str) -> int:
        """The number of the name ``cell`` trimmed, given it when new."""
        code = self._codes.get(cell)
        if code is not None:
            return code
        name = cell.strip()
        code = self._codes.get(name)
        if code is None:
            if len(self.names) >= MAX_MANUFACTURERS:
                raise InputError(
                    f"manufacturer {name!r} would be the {MAX_MANUFACTURERS + 1:,}th distinct "
                    "name in this file; an inventory names far fewer"
                )
            code = len(self.names)
            self.names.append(name)
            self._codes[name] = code
        if len(self._codes) < 4 * MAX_MANUFACTURERS:
            self._codes[cell] = code
        return code


def record_fields(device: Device, manufacturers: Manufacturers) -> tuple[Any, ...]:
    """A device as the fields of a ``DEVICE`` record."""
    flags = (
        (HAS_CHF if device.chf_id is not None else 0)
        | (HAS_MPAN if device.mpan is not None else 0)
        | (HAS_POSTCODE if device.postcode is not None else 0)
    )
    return (
        device_key(device.device_id),
        0 if device.chf_id is None else device_key(device.chf_id),
        0 if device.mpan is None else int(device.mpan),
        (device.postcode or "").encode("ascii"),
        manufacturers.code(device.manufacturer),
        TYPES.index(device.device_type),
        SMETS.index(device.smets_version),
        int(device.network_operator) if device.network_operator else NO_OPERATOR,
        flags,
    )


def device_of(record: Any, names: Sequence[str]) -> Device:
    """The device a ``DEVICE`` (or ``STAGED``) record holds; ``names`` are its load's
    manufacturers."""
    key, chf, mpan, postcode, maker, kind, smets, operator, flags = (
        record[0],
        record[1],
        record[2],
        record[3],
        record[4],
        record[5],
        record[6],
        record[7],
        record[8],
    )
    return Device(
        device_id_of(int(key)),
        TYPES[kind],
        SMETS[smets],
        names[maker],
        device_id_of(int(chf)) if flags & HAS_CHF else None,
        f"{int(mpan):013d}" if flags & HAS_MPAN else None,
        "" if operator == NO_OPERATOR else f"{int(operator):02d}",
        postcode.decode("ascii") if flags & HAS_POSTCODE else None,
    )
