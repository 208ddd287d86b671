"""Checking a column of cells at once for the plainly canonical form, with numpy.

Each check takes the cells as a matrix of bytes, a row per cell, padded with NULs to one byte
more than the canonical width (``fixed_width`` from text, or ``gather`` straight from a block
of the file's bytes), and says which cells are canonical and what they hold. A cell that is
not (stray spaces, another spelling, a fault) is for ``poagate.formats.inventory`` to judge.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from poagate.formats.device_records import Keys

Cells = npt.NDArray[np.uint8]
GATHER_PADDING = 128  # wider than any cell gathered
DERIVED, ODD = 253, 254  # an empty operator cell (the MPAN's), and one for the slow path
_HEX = np.full(256, 255, np.uint8)
for _value, _digit in enumerate("0123456789ABCDEF"):
    _HEX[ord(_digit)] = _HEX[ord(_digit.lower())] = _value
_HEX_AT = [i for i in range(23) if i % 3 != 2]
_HYPHEN_AT = [i for i in range(23) if i % 3 == 2]
_MPAN_WEIGHTS = np.array((3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43), np.int64)
_MPAN_PLACES = 10 ** np.arange(12, -1, -1, dtype=np.int64)


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


def gather(buffer: Cells, starts: Any, ends: Any, width: int) -> Cells:
    """The cells ``buffer[starts[i]:ends[i]]`` as ``fixed_width`` makes them from text.
    ``buffer`` ends with at least ``GATHER_PADDING`` bytes that no cell starts in."""
    size = width + 1
    if len(starts) == 0:
        return np.zeros((0, size), np.uint8)
    windows = np.lib.stride_tricks.sliding_window_view(buffer, size)
    cells: Cells = windows[starts]
    cells *= np.arange(size)[None, :] < (ends - starts)[:, None]
    return cells


def device_keys(raw: Cells) -> tuple[Keys, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Each cell's 64-bit number where it is a hyphenated Device ID (either case), whether it
    is, and whether the cell is empty (``raw``: cells 23 wide)."""
    nibbles = _HEX[raw[:, _HEX_AT]]
    ok = (raw[:, 23] == 0) & (nibbles != 255).all(axis=1)
    ok &= (raw[:, _HYPHEN_AT] == ord("-")).all(axis=1)
    octets = np.ascontiguousarray((nibbles[:, 0::2] << 4) | nibbles[:, 1::2])
    return octets.view(">u8").ravel().astype(np.uint64), ok, raw[:, 0] == 0


def mpan_numbers(raw: Cells) -> tuple[Keys, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Each cell's value where it is 13 ASCII digits whose check digit holds, whether it is, and
    whether the cell is empty (``raw``: cells 13 wide)."""
    digits = raw[:, :13].astype(np.int64) - ord("0")
    ok = (raw[:, 13] == 0) & ((digits >= 0) & (digits <= 9)).all(axis=1)
    ok &= (digits[:, :12] @ _MPAN_WEIGHTS) % 11 % 10 == digits[:, 12]
    return (digits @ _MPAN_PLACES).astype(np.uint64), ok, raw[:, 0] == 0


def codes_of(raw: Cells, names: Sequence[str]) -> npt.NDArray[np.uint8]:
    """Each cell's position in ``names`` (exactly as written), 255 where it is none of them
    (``raw``: cells as wide as the longest name)."""
    packed = np.ascontiguousarray(raw).view(f"S{raw.shape[1]}").ravel()
    codes = np.full(len(raw), 255, np.uint8)
    for code, name in enumerate(names):
        codes[packed == name.encode()] = code
    return codes


def operator_codes(cells: Cells) -> npt.NDArray[np.uint8]:
    """Each cell's distributor id (``00``–``99``), ``DERIVED`` when empty, ``ODD`` otherwise
    (``cells``: 2 wide)."""
    raw = cells.astype(np.int16)
    digits = raw[:, :2] - ord("0")
    two = (raw[:, 2] == 0) & ((digits >= 0) & (digits <= 9)).all(axis=1)
    codes = np.where(two, digits[:, 0] * 10 + digits[:, 1], ODD)
    return np.where(raw[:, 0] == 0, DERIVED, codes).astype(np.uint8)


def canonical_postcodes(raw: Cells) -> tuple[Any, npt.NDArray[np.bool_]]:
    """The cells as ``S8`` and whether each is a postcode in canonical form already (what
    ``normalise_postcode`` returns as it is): outward code, one space, inward code (``raw``:
    cells 8 wide)."""
    n = len(raw)
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
