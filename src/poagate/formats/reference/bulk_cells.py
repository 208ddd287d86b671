"""Checking a column of cells at once for the plainly canonical form, with numpy.

Each check takes a column of cells as a matrix of bytes, a row per cell at least as wide as the
canonical form, and the length of each cell (``fixed_width`` from text, or ``gather`` straight
from a block of the file's bytes), and says which cells are canonical and what they hold. A
cell that is not (stray spaces, another spelling, a fault) is for
``poagate.formats.reference.inventory`` to judge.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from poagate.formats.reference.device_records import Keys

Cells = npt.NDArray[np.uint8]
Lengths = npt.NDArray[np.int64]
Column = tuple[Cells, Lengths]  # the cells, a row each (padded or not), and their lengths
Mask = npt.NDArray[np.bool_]
GATHER_PADDING = 128  # wider than any cell gathered
DERIVED, ODD = 253, 254  # an empty operator cell (the MPAN's), and one for the slow path
_HEX = np.full(256, 255, np.uint8)
for _value, _digit in enumerate("0123456789ABCDEF"):
    _HEX[ord(_digit)] = _HEX[ord(_digit.lower())] = _value
_HEX_AT = [i for i in range(23) if i % 3 != 2]
_HYPHEN_AT = [i for i in range(23) if i % 3 == 2]
_MPAN_WEIGHTS = np.array((3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43), np.int64)
_MPAN_PLACES = 10 ** np.arange(12, -1, -1, dtype=np.int64)


def fixed_width(cells: Sequence[str], width: int) -> Column:
    """Text cells as a ``Column``. Characters that are not ASCII become ``?`` (no canonical
    cell holds one); a cell longer than ``width`` counts ``width + 1``. The caller sees to it
    that no cell holds a NUL itself (``LineBlock.has_nul``)."""
    size = width + 1
    if len(cells) == 0:
        return np.zeros((0, size), np.uint8), np.zeros(0, np.int64)
    try:
        packed = np.array(cells, f"S{size}")
    except UnicodeEncodeError:
        packed = np.array([c.encode("ascii", "replace") for c in cells], f"S{size}")
    raw = packed.view(np.uint8).reshape(len(cells), size)
    return raw, np.count_nonzero(raw, axis=1)


def gather(buffer: Cells, starts: Any, ends: Any, width: int, masked: bool = False) -> Column:
    """The cells ``buffer[starts[i]:ends[i]]`` as a ``Column`` ``width`` wide: what lies past a
    cell's end is left as it is unless ``masked`` (then NULs). ``buffer`` ends with at least
    ``GATHER_PADDING`` bytes that no cell starts in."""
    lengths = ends - starts
    if len(starts) == 0:
        return np.zeros((0, width), np.uint8), lengths
    cells: Cells = np.lib.stride_tricks.sliding_window_view(buffer, width)[starts]
    if masked:
        cells *= np.arange(width)[None, :] < lengths[:, None]
    return cells, lengths


def device_keys(column: Column) -> tuple[Keys, Mask, Mask]:
    """Each cell's 64-bit number where it is a hyphenated Device ID (either case), whether it
    is, and whether the cell is empty."""
    raw, lengths = column
    nibbles = _HEX[raw[:, _HEX_AT]]
    ok = (lengths == 23) & (nibbles != 255).all(axis=1)
    ok &= (raw[:, _HYPHEN_AT] == ord("-")).all(axis=1)
    octets = np.ascontiguousarray((nibbles[:, 0::2] << 4) | nibbles[:, 1::2])
    return octets.view(">u8").ravel().astype(np.uint64), ok, lengths == 0


def mpan_numbers(column: Column) -> tuple[Keys, Mask, Mask]:
    """Each cell's value where it is 13 ASCII digits whose check digit holds, whether it is, and
    whether the cell is empty."""
    raw, lengths = column
    digits = raw[:, :13].astype(np.int64) - ord("0")
    ok = (lengths == 13) & ((digits >= 0) & (digits <= 9)).all(axis=1)
    ok &= (digits[:, :12] @ _MPAN_WEIGHTS) % 11 % 10 == digits[:, 12]
    return (digits @ _MPAN_PLACES).astype(np.uint64), ok, lengths == 0


def codes_of(column: Column, names: Sequence[str]) -> npt.NDArray[np.uint8]:
    """Each cell's position in ``names`` (exactly as written), 255 where it is none of them."""
    raw, lengths = column
    codes = np.full(len(raw), 255, np.uint8)
    for code, name in enumerate(names):
        spelt = np.frombuffer(name.encode(), np.uint8)
        codes[(lengths == len(spelt)) & (raw[:, : len(spelt)] == spelt).all(axis=1)] = code
    return codes


def operator_codes(column: Column) -> npt.NDArray[np.uint8]:
    """Each cell's distributor id (``00``–``99``), ``DERIVED`` when empty, ``ODD`` otherwise."""
    raw, lengths = column
    digits = raw[:, :2].astype(np.int16) - ord("0")
    two = (lengths == 2) & ((digits >= 0) & (digits <= 9)).all(axis=1)
    codes = np.where(two, digits[:, 0] * 10 + digits[:, 1], ODD)
    return np.where(lengths == 0, DERIVED, codes).astype(np.uint8)


def canonical_postcodes(column: Column) -> tuple[Any, Mask]:
    """The cells as ``S8`` and whether each is a postcode in canonical form already (what
    ``normalise_postcode`` returns as it is): outward code, one space, inward code. The cells
    must be NUL past their ends (``gather(..., masked=True)``)."""
    raw, lengths = column
    n = len(raw)
    # Right-aligned in 9: the inward code at 6..8, the space at 5, the outward code before it.
    shift = np.clip(9 - lengths, 0, 8)[:, None]
    right = np.take_along_axis(raw[:, :8], np.clip(np.arange(9)[None, :] - shift, 0, 7), axis=1)
    right[np.arange(9)[None, :] < shift] = 0
    letter = (right >= ord("A")) & (right <= ord("Z"))
    digit = (right >= ord("0")) & (right <= ord("9"))
    ok = (lengths >= 6) & (lengths <= 8)
    ok &= digit[:, 6] & letter[:, 7] & letter[:, 8] & (right[:, 5] == ord(" "))
    outward = lengths - 4
    # A9, A9X, AA9, AA9X (X a letter or digit): the outward code sits at 5 - outward .. 4.
    x = letter[:, 4] | digit[:, 4]
    two = (outward == 2) & letter[:, 3] & digit[:, 4]
    three = (outward == 3) & letter[:, 2] & ((digit[:, 3] & x) | (letter[:, 3] & digit[:, 4]))
    four = (outward == 4) & letter[:, 1] & letter[:, 2] & digit[:, 3] & x
    ok &= two | three | four
    packed = np.zeros((n, 8), np.uint8)
    packed[ok] = raw[ok, :8]
    return packed.view("S8").reshape(n), ok
