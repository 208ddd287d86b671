"""The inventory CSV (SPEC §3, §11) read in bulk: blocks of rows to packed device records.

A national inventory has 40 million rows. Checking each cell with Python code costs several
microseconds a row, minutes for a load; here each column of a block of rows is checked at once
with numpy for the plainly canonical form (a Device ID as 8 hex pairs, a 13-digit MPAN whose
check digit holds, a known device type), and only rows with anything else in them — stray
spaces, lower case, a fault — go through ``parse_device_row``, the one statement of what a row
may hold. A row the bulk check accepts is exactly what ``parse_device_row`` would make of it.

A device is a record of 38 bytes (``DEVICE``): its Device ID as a 64-bit number, its hub's, its
MPAN, its postcode as 8 bytes, its manufacturer as a number in the load's list of names, and its
type, SMETS version and network operator as one byte each. No Python object per device.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from poagate.domain.reference import Device, DeviceType, SmetsVersion
from poagate.formats.errors import InputError, Rejection, truncate_raw
from poagate.formats.inventory import COLUMNS, parse_device_row
from poagate.formats.lines import LineBlock, Sha256Reader, line_blocks

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

DERIVED, ODD = 253, 254  # an empty operator cell (the MPAN's), and one for the slow path
_HEX = np.full(256, 255, np.uint8)
for _value, _digit in enumerate("0123456789ABCDEF"):
    _HEX[ord(_digit)] = _HEX[ord(_digit.lower())] = _value
_HEX_AT = [i for i in range(23) if i % 3 != 2]
_HYPHEN_AT = [i for i in range(23) if i % 3 == 2]
_MPAN_WEIGHTS = np.array((3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43), np.int64)
_MPAN_PLACES = 10 ** np.arange(12, -1, -1, dtype=np.int64)


def device_key(device_id: str) -> int:
    """A canonical Device ID as its 64-bit number."""
    return int(device_id.replace("-", ""), 16)


def device_id_of(key: int) -> str:
    """The canonical Device ID of a 64-bit number: ``00-DB-12-34-56-78-90-A0``."""
    return key.to_bytes(8, "big").hex("-").upper()


def fixed_width(cells: Sequence[str], width: int) -> npt.NDArray[np.uint8]:
    """The cells as rows of ``width`` + 1 bytes, padded with NULs: a cell of exactly ``width``
    characters has a non-NUL byte at ``width - 1`` and a NUL at ``width``; an empty one is all
    NULs. Characters that are not ASCII become ``?`` (no canonical cell holds one). The caller
    sees to it that no cell holds a NUL itself (``LineBlock.has_nul``)."""
    size = width + 1
    try:
        packed = np.array(cells, f"S{size}")
    except UnicodeEncodeError:
        packed = np.array([c.encode("ascii", "replace") for c in cells], f"S{size}")
    if len(cells) == 0:
        return np.zeros((0, size), np.uint8)
    return packed.view(np.uint8).reshape(len(cells), size)


def device_keys(
    cells: Sequence[str],
) -> tuple[Keys, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Each cell's 64-bit number where it is a hyphenated Device ID (either case), whether it
    is, and whether the cell is empty."""
    raw = fixed_width(cells, 23)
    nibbles = _HEX[raw[:, _HEX_AT]]
    ok = (raw[:, 23] == 0) & (nibbles != 255).all(axis=1)
    ok &= (raw[:, _HYPHEN_AT] == ord("-")).all(axis=1)
    octets = np.ascontiguousarray((nibbles[:, 0::2] << 4) | nibbles[:, 1::2])
    return octets.view(">u8").ravel().astype(np.uint64), ok, raw[:, 0] == 0


def mpan_numbers(
    cells: Sequence[str],
) -> tuple[Keys, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Each cell's value where it is 13 ASCII digits whose check digit holds, whether it is, and
    whether the cell is empty."""
    raw = fixed_width(cells, 13)
    digits = raw[:, :13].astype(np.int64) - ord("0")
    ok = (raw[:, 13] == 0) & ((digits >= 0) & (digits <= 9)).all(axis=1)
    ok &= (digits[:, :12] @ _MPAN_WEIGHTS) % 11 % 10 == digits[:, 12]
    return (digits @ _MPAN_PLACES).astype(np.uint64), ok, raw[:, 0] == 0


def codes_of(cells: Sequence[str], names: Sequence[str]) -> npt.NDArray[np.uint8]:
    """Each cell's position in ``names`` (exactly as written), 255 where it is none of them."""
    width = max(len(n) for n in names)
    packed = fixed_width(cells, width).view(f"S{width + 1}").ravel()
    codes = np.full(len(cells), 255, np.uint8)
    for code, name in enumerate(names):
        codes[packed == name.encode()] = code
    return codes


def operator_codes(cells: Sequence[str]) -> npt.NDArray[np.uint8]:
    """Each cell's distributor id (``00``–``99``), ``DERIVED`` when empty, ``ODD`` otherwise."""
    raw = fixed_width(cells, 2).astype(np.int16)
    digits = raw[:, :2] - ord("0")
    two = (raw[:, 2] == 0) & ((digits >= 0) & (digits <= 9)).all(axis=1)
    codes = np.where(two, digits[:, 0] * 10 + digits[:, 1], ODD)
    return np.where(raw[:, 0] == 0, DERIVED, codes).astype(np.uint8)


def canonical_postcodes(cells: Sequence[str]) -> tuple[Any, npt.NDArray[np.bool_]]:
    """The cells as ``S8`` and whether each is a postcode in canonical form already (what
    ``normalise_postcode`` returns as it is): outward code, one space, inward code."""
    raw = fixed_width(cells, 8)
    n = len(cells)
    lengths = np.count_nonzero(raw, axis=1)
    # Right-aligned in 9: the inward code at 6..8, the space at 5, the outward code before it.
    shift = np.clip(9 - lengths, 0, 8)[:, None]
    right = np.take_along_axis(raw, np.clip(np.arange(9)[None, :] - shift, 0, 8), axis=1)
    right[np.arange(9)[None, :] < shift] = 0
    letter = (right >= ord("A")) & (right <= ord("Z"))
    digit = (right >= ord("0")) & (right <= ord("9"))
    ok = (lengths >= 6) & (lengths <= 8) & (raw[:, 8] == 0)
    ok &= digit[:, 6] & letter[:, 7] & letter[:, 8] & (right[:, 5] == ord(" "))
    outward = lengths - 4
    # A9, A9X, AA9, AA9X (X a letter or digit): the outward code sits at 5 - outward .. 4.
    x = letter[:, 4] | digit[:, 4]
    two = (outward == 2) & letter[:, 3] & digit[:, 4]
    three = (outward == 3) & letter[:, 2] & ((digit[:, 3] & x) | (letter[:, 3] & digit[:, 4]))
    four = (outward == 4) & letter[:, 1] & letter[:, 2] & digit[:, 3] & x
    ok &= two | three | four
    return raw[:, :8].copy().view("S8").reshape(n), ok


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


@dataclass(slots=True)
class ParsedRows:
    """What a block of rows held: the devices (``STAGED`` records) and the rows rejected."""

    records: Records
    rejected: list[Rejection]
    rows_read: int


@dataclass(slots=True)
class Header:
    """Where each column a row is read by stands (``model`` is kept by no one), and how many
    cells a row has."""

    positions: list[int]
    width: int


def read_header(header: str, source: str, columns: Sequence[str] = COLUMNS) -> Header:
    """The header line's columns; raises ``InputError`` when it lacks one."""
    try:
        cells = next(csv.reader([header]), [])
    except csv.Error as exc:
        raise InputError(f"{source}: line 1: {exc}") from None
    names = [h.strip().lower() for h in cells]
    missing = [c for c in columns if c not in names]
    if missing:
        raise InputError(
            f"{source}: the header lacks column(s) {', '.join(missing)}; "
            f"expected {','.join(columns)}"
        )
    return Header([names.index(name) for name in columns if name != "model"], len(names))


def split_rows(
    block: LineBlock, width: int, source: str
) -> tuple[list[list[str]], npt.NDArray[np.uint32], list[Rejection], int]:
    """The block's rows of ``width`` cells with their line numbers, the rows rejected for their
    shape, and how many rows it held (blank lines are none). A row is one line: no cell of an
    inventory holds a line break, so a stray quote cannot swallow the lines after it."""
    lines = block.lines
    rows: list[list[str]] | list[list[str] | str]
    try:
        rows = list(csv.reader(lines))
    except csv.Error:
        rows = []
    first = block.first_line
    errors = block.errors
    if len(rows) != len(lines):
        rows = [_one_row(line) for line in lines]
    elif not errors and (np.fromiter(map(len, rows), np.int64, len(rows)) == width).all():
        return rows, np.arange(first, first + len(rows), dtype=np.uint32), [], len(rows)
    good: list[list[str]] = []
    numbers: list[int] = []
    rejected: list[Rejection] = []
    read = 0
    for index, row in enumerate(rows):
        error = errors.get(index) if errors else None
        if error is None:
            if isinstance(row, str):
                error = row
            elif len(row) == width:
                good.append(row)
                numbers.append(first + index)
                read += 1
                continue
            elif not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line
            else:
                error = f"row has {len(row)} fields; the header has {width}"
        read += 1
        rejected.append(
            Rejection(source, first + index, error, truncate_raw(lines[index].rstrip("\r")))
        )
    return good, np.array(numbers, np.uint32), rejected, read


def _one_row(line: str) -> list[str] | str:
    """One line's cells, or why it is not CSV."""
    try:
        return next(csv.reader([line]), [])
    except csv.Error as exc:
        return f"unreadable CSV: {exc}"


class InventoryColumns:
    """Reads blocks of inventory rows to records (see the module docstring).

    ``header`` comes from ``read_header``; ``manufacturers`` numbers the names across every
    block of one load."""

    def __init__(self, source: str, header: Header, manufacturers: Manufacturers) -> None:
        self.source = source
        self._positions = header.positions
        self.width = header.width
        self.manufacturers = manufacturers
        self._postcodes: dict[str, str] = {}

    def parse(self, block: LineBlock) -> ParsedRows:
        rows, lines, rejected, read = split_rows(block, self.width, self.source)
        records = self.parse_rows(rows, lines, rejected, block.has_nul)
        if rejected:
            rejected.sort(key=lambda r: r.line or 0)  # in file order, whatever found them
        return ParsedRows(records, rejected, read)

    def parse_rows(
        self,
        rows: list[list[str]],
        lines: npt.NDArray[np.uint32],
        rejected: list[Rejection],
        has_nul: bool = True,
    ) -> Records:
        """Records of the good ``rows`` (each of ``width`` cells, at ``lines``); the others are
        added to ``rejected``. ``has_nul``: whether any cell may hold a NUL character, which
        the bulk checks cannot see (such rows go the slow way)."""
        n = len(rows)
        if n == 0:
            return np.empty(0, STAGED)
        columns = list(zip(*rows, strict=True))
        ids, types, smets, makers, chfs, mpans, operators, postcodes = (
            columns[p] for p in self._positions
        )
        keys, ok, _ = device_keys(ids)
        type_codes = codes_of(types, [t.value for t in TYPES])
        smets_codes = codes_of(smets, [s.value for s in SMETS])
        ok &= (type_codes != 255) & (smets_codes != 255)
        chf_keys, chf_ok, chf_empty = device_keys(chfs)
        ok &= chf_ok | chf_empty
        mpan_values, mpan_ok, mpan_empty = mpan_numbers(mpans)
        ok &= mpan_ok | (mpan_empty & (type_codes != ESME_CODE))
        operators_given = operator_codes(operators)
        ok &= operators_given != ODD
        derived = np.where(mpan_ok, mpan_values // 10**11, NO_OPERATOR)
        operator = np.where(operators_given == DERIVED, derived, operators_given)
        postcode, postcode_ok = canonical_postcodes(postcodes)
        postcode_empty = postcode == b""
        ok &= postcode_ok | postcode_empty
        maker_codes = self._maker_codes(makers, ok)
        if has_nul:
            ok &= np.array(["\x00" not in ",".join(row) for row in rows], np.bool_)

        good = np.flatnonzero(ok)
        records = np.empty(len(good), STAGED)
        records["key"] = keys[good]
        records["chf"] = np.where(chf_empty, 0, chf_keys)[good]
        records["mpan"] = np.where(mpan_ok, mpan_values, 0)[good]
        records["postcode"] = postcode[good]
        records["manufacturer"] = maker_codes[good]
        records["type"] = type_codes[good]
        records["smets"] = smets_codes[good]
        records["operator"] = operator[good]
        records["flags"] = (
            np.where(chf_empty, 0, HAS_CHF)
            | np.where(mpan_ok, HAS_MPAN, 0)
            | np.where(postcode_empty, 0, HAS_POSTCODE)
        )[good]
        records["line"] = lines[good]
        if len(good) == n:
            return records
        slow = [self._row_record(rows[i], int(lines[i]), rejected) for i in np.flatnonzero(~ok)]
        found = [r for r in slow if r is not None]
        if not found:
            return records
        return np.concatenate([records, np.array(found, STAGED)])

    def _maker_codes(self, makers: Sequence[str], ok: npt.NDArray[np.bool_]) -> Any:
        """Each row's manufacturer number; a row naming one more than a load may hold goes the
        slow way, and is rejected there."""
        known = self.manufacturers.known
        seen = [known(m) for m in makers]
        if -1 not in seen:
            return np.array(seen, np.uint16)
        code = self.manufacturers.code
        codes = np.zeros(len(makers), np.uint16)
        for index, maker in enumerate(makers):
            try:
                codes[index] = code(maker)
            except InputError:
                ok[index] = False
        return codes

    def _row_record(self, row: list[str], line: int, rejected: list[Rejection]) -> Any:
        try:
            device = parse_device_row(*[row[p] for p in self._positions])
            return (*record_fields(device, self.manufacturers), line)
        except InputError as exc:
            rejected.append(Rejection(self.source, line, str(exc), truncate_raw(",".join(row))))
            return None


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


@dataclass(slots=True)
class InventoryFile:
    """A whole (small) inventory read into memory: the good devices (the later row for a device
    wins, in the order of their last rows) and the rows rejected."""

    devices: tuple[Device, ...]
    rejected: tuple[Rejection, ...]
    rows_read: int


def read_inventory(stream: IO[str], source: str) -> InventoryFile:
    """Read an inventory CSV held as text (tests, the simulator's checks); raises
    ``InputError`` only when the header is unusable. Loads stream files instead
    (``poagate.service.reference_loads``); both read rows here."""
    data = Sha256Reader(io.BytesIO(stream.read().encode("utf-8")))
    blocks = line_blocks(data)
    first = next(blocks, None)
    if first is None or not first.lines[0].strip():
        raise InputError(f"{source}: the inventory is empty; it needs a header row")
    columns = InventoryColumns(source, read_header(first.lines[0], source), Manufacturers())
    first.lines, first.first_line = first.lines[1:], 2
    first.errors = {i - 1: e for i, e in first.errors.items() if i > 0}
    parts: list[Records] = []
    rejected: list[Rejection] = []
    read = 0
    for block in (first, *blocks):
        parsed = columns.parse(block)
        parts.append(parsed.records)
        rejected += parsed.rejected
        read += parsed.rows_read
    records = np.concatenate(parts)
    records = records[np.argsort(records["line"], kind="stable")]
    latest: dict[int, Any] = {}
    for record in records:
        latest.pop(int(record["key"]), None)
        latest[int(record["key"])] = record
    names = columns.manufacturers.names
    devices = tuple(device_of(r, names) for r in latest.values())
    rejected.sort(key=lambda r: r.line or 0)
    return InventoryFile(devices, tuple(rejected), read)
