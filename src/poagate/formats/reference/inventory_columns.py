"""The inventory CSV (spec §3, §11) read in bulk: blocks of rows to packed device records.

A national inventory has 40 million rows. Checking each cell with Python code costs several
microseconds a row, minutes for a load; here each column of a block of rows is checked at once
with numpy for the plainly canonical form (a Device ID as 8 hex pairs, a 13-digit MPAN whose
check digit holds, a known device type), and only rows with anything else in them — stray
spaces, lower case, a fault — go through ``parse_device_row``, the one statement of what a row
may hold. A row the bulk check accepts is exactly what ``parse_device_row`` would make of it.

A block with no quote, carriage return or NUL in it, all ASCII (an inventory as the DCC writes
it), is not even split into Python strings: numpy finds its commas and line ends and reads each
column straight from the block's bytes. Any other block goes through Python's ``csv`` module.
Each device becomes a packed record (``poagate.formats.reference.device_records``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from poagate.domain.reference import Device
from poagate.formats.errors import InputError, Rejection, truncate_raw
from poagate.formats.reference.bulk_cells import (
    DERIVED,
    GATHER_PADDING,
    ODD,
    Column,
    canonical_postcodes,
    codes_of,
    device_keys,
    fixed_width,
    gather,
    mpan_numbers,
    operator_codes,
)
from poagate.formats.reference.device_records import (
    ESME_CODE,
    HAS_CHF,
    HAS_MPAN,
    HAS_POSTCODE,
    NO_OPERATOR,
    SMETS,
    STAGED,
    TYPES,
    Manufacturers,
    Records,
    device_of,
    record_fields,
)
from poagate.formats.reference.inventory import COLUMNS, parse_device_row
from poagate.formats.reference.lines import LineBlock, Sha256Reader, line_blocks, without_first_line


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

    def parse(self, block: LineBlock) -> ParsedRows:
        raw = block.raw
        if raw is not None and _plain(raw) and self.width > 1:
            parsed = self._parse_plain(block, raw)
        else:
            rows, lines, rejected, read = split_rows(block, self.width, self.source)
            parsed = ParsedRows(
                self.parse_rows(rows, lines, rejected, block.has_nul), rejected, read
            )
        if parsed.rejected:
            parsed.rejected.sort(key=lambda r: r.line or 0)  # in file order, whoever found them
        return parsed

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
        if not rows:
            return np.empty(0, STAGED)
        columns = list(zip(*rows, strict=True))
        ids, types, smets, makers, chfs, mpans, operators, postcodes = (
            columns[p] for p in self._positions
        )
        ok = np.ones(len(rows), np.bool_)
        maker_codes = self._maker_codes(makers, ok)
        if has_nul:
            ok &= np.array(["\x00" not in ",".join(row) for row in rows], np.bool_)
        records, slow = _bulk(
            fixed_width(ids, 23),
            fixed_width(types, _TYPE_WIDTH),
            fixed_width(smets, _SMETS_WIDTH),
            fixed_width(chfs, 23),
            fixed_width(mpans, 13),
            fixed_width(operators, 2),
            fixed_width(postcodes, 8),
            maker_codes,
            ok,
            lines,
        )
        return self._with_slow(records, [(rows[i], int(lines[i])) for i in slow], rejected)

    def _parse_plain(self, block: LineBlock, raw: bytes) -> ParsedRows:
        """A block with no quote, carriage return, NUL or byte over 127: CSV that is split at
        its commas and line ends, which numpy finds, with no Python object per cell."""
        buffer = np.frombuffer(raw + b"\n" + bytes(GATHER_PADDING), np.uint8)
        ends = np.flatnonzero(buffer == 10)
        starts = np.empty_like(ends)
        starts[0], starts[1:] = 0, ends[:-1] + 1
        is_comma = buffer == 44
        commas = np.flatnonzero(is_comma)
        width = self.width
        if len(commas) == len(ends) * (width - 1):
            cuts = commas.reshape(len(ends), width - 1)
            shaped = (cuts[:, 0] >= starts) & (cuts[:, -1] < ends)  # each line its own commas
        else:
            shaped = np.zeros(len(ends), np.bool_)
        if not shaped.all():
            owner = np.searchsorted(ends, commas)
            shaped = np.bincount(owner, minlength=len(ends)) == width - 1
            cuts = commas[shaped[owner]].reshape(-1, width - 1)
        good = np.flatnonzero(shaped)
        first = np.empty((len(good), width), np.int64)
        last = np.empty((len(good), width), np.int64)
        first[:, 0], first[:, 1:] = starts[good], cuts + 1
        last[:, :-1], last[:, -1] = cuts, ends[good]
        ids, types, smets, makers, chfs, mpans, operators, postcodes = (
            (first[:, p], last[:, p]) for p in self._positions
        )
        ok = np.ones(len(good), np.bool_)
        maker_codes = self._plain_maker_codes(buffer, *makers, ok)
        lines = (good + block.first_line).astype(np.uint32)
        records, slow = _bulk(
            gather(buffer, *ids, 23),
            gather(buffer, *types, _TYPE_WIDTH),
            gather(buffer, *smets, _SMETS_WIDTH),
            gather(buffer, *chfs, 23),
            gather(buffer, *mpans, 13),
            gather(buffer, *operators, 2),
            gather(buffer, *postcodes, 8, masked=True),
            maker_codes,
            ok,
            lines,
        )
        odd = np.flatnonzero(~shaped).tolist()
        text = block.lines if odd or slow else []  # split into lines only when needed
        rejected: list[Rejection] = []
        others = [(text[i], block.first_line + i) for i in odd]
        rows: list[tuple[list[str], int]] = []
        read = len(good)
        for line, number in others:
            row = _one_row(line)
            if isinstance(row, list) and (not row or (len(row) == 1 and not row[0].strip())):
                continue  # a blank line
            read += 1
            if isinstance(row, list) and len(row) == width:
                rows.append((row, number))  # a row the bulk split cannot be sure of
                continue
            error = (
                row
                if isinstance(row, str)
                else f"row has {len(row)} fields; the header has {width}"
            )
            rejected.append(Rejection(self.source, number, error, truncate_raw(line)))
        for i in slow:
            row = _one_row(text[int(good[i])])
            assert isinstance(row, list)
            rows.append((row, int(lines[i])))
        return ParsedRows(self._with_slow(records, rows, rejected), rejected, read)

    def _with_slow(
        self, records: Records, rows: list[tuple[list[str], int]], rejected: list[Rejection]
    ) -> Records:
        """``records`` and those of ``rows`` checked one by one (``parse_device_row``)."""
        found = [r for r in (self._row_record(row, line, rejected) for row, line in rows) if r]
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

    def _plain_maker_codes(
        self, buffer: Any, starts: Any, ends: Any, ok: npt.NDArray[np.bool_]
    ) -> Any:
        """The manufacturer numbers of a plain block: each distinct cell named once."""
        if len(starts) == 0:
            return np.zeros(0, np.uint16)
        lengths = ends - starts
        width = int(min(lengths.max(), _MAKER_WIDTH))
        cells, _ = gather(buffer, starts, ends, width + 1, masked=True)
        ok &= lengths <= _MAKER_WIDTH
        names, inverse = np.unique(
            np.ascontiguousarray(cells).view(f"S{width + 1}").ravel(), return_inverse=True
        )
        distinct = [n.decode("ascii") for n in names.tolist()]
        return self._maker_codes(distinct, np.ones(len(distinct), np.bool_))[inverse.ravel()]

    def _row_record(self, row: list[str], line: int, rejected: list[Rejection]) -> Any:
        try:
            device = parse_device_row(*[row[p] for p in self._positions])
            return (*record_fields(device, self.manufacturers), line)
        except InputError as exc:
            rejected.append(Rejection(self.source, line, str(exc), truncate_raw(",".join(row))))
            return None


_TYPE_WIDTH = max(len(t.value) for t in TYPES)
_SMETS_WIDTH = max(len(s.value) for s in SMETS)
_MAKER_WIDTH = 64  # a longer manufacturer cell goes the slow way


def _plain(raw: bytes) -> bool:
    return raw.isascii() and b'"' not in raw and b"\r" not in raw and b"\x00" not in raw


def _bulk(
    ids: Column,
    types: Column,
    smets: Column,
    chfs: Column,
    mpans: Column,
    operators: Column,
    postcodes: Column,
    maker_codes: Any,
    ok: npt.NDArray[np.bool_],
    lines: npt.NDArray[np.uint32],
) -> tuple[Records, list[int]]:
    """The records of the rows whose every cell is plainly canonical (and ``ok``), and the
    indexes of the other rows, for the slow way."""
    keys, fine, _ = device_keys(ids)
    ok &= fine
    type_codes = codes_of(types, [t.value for t in TYPES])
    smets_codes = codes_of(smets, [v.value for v in SMETS])
    ok &= (type_codes != 255) & (smets_codes != 255)
    chf_keys, chf_ok, chf_empty = device_keys(chfs)
    ok &= chf_ok | chf_empty
    mpan_values, mpan_ok, mpan_empty = mpan_numbers(mpans)
    ok &= mpan_ok | (mpan_empty & (type_codes != ESME_CODE))
    given = operator_codes(operators)
    ok &= given != ODD
    derived = np.where(mpan_ok, mpan_values // 10**11, NO_OPERATOR)
    operator = np.where(given == DERIVED, derived, given)
    postcode, postcode_ok = canonical_postcodes(postcodes)
    postcode_empty = postcodes[1] == 0
    ok &= postcode_ok | postcode_empty
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
    return records, np.flatnonzero(~ok).tolist()


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
    (``poagate.service.reference.loads``); both read rows here."""
    data = Sha256Reader(io.BytesIO(stream.read().encode("utf-8")))
    blocks = line_blocks(data)
    first = next(blocks, None)
    if first is None or not first.lines[0].strip():
        raise InputError(f"{source}: the inventory is empty; it needs a header row")
    columns = InventoryColumns(source, read_header(first.lines[0], source), Manufacturers())
    first = without_first_line(first)
    parts: list[Records] = []
    rejected: list[Rejection] = []
    read = 0
    for block in (first, *blocks):
        if block.line_count == 0:
            continue
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
