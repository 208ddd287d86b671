"""Reading JSON Lines event files in the order spec §5 requires.

Events are processed in ``received_at`` order; ties keep input order (files in the order given,
then line order).

A first pass over each file hashes it, counts its events and checks whether it is already in
``received_at`` order, which DSP logs normally are. The check is cheap: one regular expression
pass over each megabyte collects every ``"received_at"`` whose value is a canonical UTC timestamp
(``2026-03-02T10:15:30.123456Z``); texts of that layout, padded to six fraction digits, order
exactly like the instants they name. When every occurrence of the key in a block is such a plain
string (and no ``\\u`` escape could spell the key another way), each line's own received_at is in
that list — orjson keeps the last of repeated keys, and nested ones only add entries — so a list
in order means lines in order. Any other block is checked line by line with the full parse.

Files in order are then read once, sequentially, parsed as they are read, and merged; memory
does not grow with the input. A file out of order gets a second pass that reads every line's
``received_at`` and is then read through an index sorted by it (a stable sort, so ties keep line
order); that costs about 24 bytes of memory per line of that file.

A line whose ``received_at`` cannot be read keeps the place of the line before it, so it is
rejected where it stands in the file.
"""

from __future__ import annotations

import hashlib
import heapq
import mmap
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from poagate.domain.events import Event, Ignored
from poagate.formats.errors import InputError
from poagate.formats.jsonl import parse_event_line, received_at_us
from poagate.formats.timestamps import format_timestamp, from_us

if TYPE_CHECKING:
    from hashlib import _Hash

MAX_LINE_BYTES = 4 * 1024 * 1024
_BEGINNING = datetime(1, 1, 1, tzinfo=UTC)

# (received_at, file index, line number, the line, what it parsed to or why it was rejected)
Item = tuple[datetime, int, int, bytes, Event | Ignored | InputError]


class InputOrderError(RuntimeError):
    """A file read as being in order was not: a fault in poagate, never silently ignored."""


@dataclass(slots=True)
class ScannedFile:
    """One events file after the first pass."""

    index: int
    path: Path
    sha256: str
    events: int  # non-blank lines
    in_order: bool
    keys: array[int] | None = None  # received_at µs per event, for a file out of order
    offsets: array[int] | None = None
    line_numbers: array[int] | None = None


def bytes_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# -- the first pass ---------------------------------------------------------------------------

_RECEIVED_KEY = b'"received_at"'
_CANONICAL_KEY = re.compile(
    rb'"received_at"\s*:\s*"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?Z)"'
)
# Each blank line after the first, found by the newline before it: a pattern that can start
# anywhere (an anchored multi-line one, or one with \A) costs ten times as much.
_BLANK_AFTER_NEWLINE = re.compile(rb"\n(?=[ \t\r\f\v]*\n)")
_BLANK_FIRST = re.compile(rb"[ \t\r\f\v]*\n")


def _blank_lines(chunk: bytes) -> int:
    return len(_BLANK_AFTER_NEWLINE.findall(chunk)) + (_BLANK_FIRST.match(chunk) is not None)


_CHUNK_BYTES = 1 << 18  # one malformed line sends only its block to the line-by-line check
_BEFORE_ANY = b"0000-00-00T00:00:00.000000Z"  # sorts before every canonical timestamp


def _fixed_width(text: bytes) -> bytes:
    """A canonical timestamp with exactly six fraction digits, so that texts compare as times."""
    if len(text) == 27:
        return text
    fraction = text[19:-1] + b".000000" if len(text) == 20 else text[19:-1] + b"000000"
    return text[:19] + fraction[:7] + b"Z"


def _chunks(f: BinaryIO, digest: _Hash) -> Iterator[bytes]:
    """The file as blocks of whole lines (about 1 MiB each), hashing every byte read."""
    tail = b""
    while block := f.read(_CHUNK_BYTES):
        digest.update(block)
        cut = block.rfind(b"\n") + 1
        if cut == 0:
            tail += block  # a line longer than a block
            continue
        yield tail + block[:cut]
        tail = block[cut:]
    if tail:
        yield tail + b"\n"


def _chunk_in_order(chunk: bytes, last: bytes) -> tuple[bool, bytes] | None:
    """Whether a block continues in order after ``last`` (fixed width), or None when the block
    needs the line-by-line check (see the module docstring)."""
    texts = _CANONICAL_KEY.findall(chunk)
    if len(texts) != chunk.count(_RECEIVED_KEY) or b"\\u" in chunk:
        return None
    if not texts:
        return True, last
    if len(texts[0]) != 27 or len(texts[-1]) != 27 or len(set(map(len, texts))) != 1:
        texts = [_fixed_width(t) for t in texts]
    return texts[0] >= last and texts == sorted(texts), texts[-1]


def _exact_in_order(chunk: bytes, last: bytes) -> tuple[bool, bytes]:
    """The line-by-line check: a line whose one received_at is canonical is compared as text,
    any other is read exactly as the full parse reads it."""
    for line in chunk.splitlines():
        if len(line) > MAX_LINE_BYTES or not line.strip():
            continue
        texts = _CANONICAL_KEY.findall(line)
        if len(texts) == 1 and line.count(_RECEIVED_KEY) == 1 and b"\\u" not in line:
            text = _fixed_width(texts[0])
        else:
            us = received_at_us(line)
            if us is None:
                continue  # rejected later, in its place
            text = _fixed_width(format_timestamp(from_us(us)).encode())
        if text < last:
            return False, last
        last = text
    return True, last


def scan(path: Path, index: int) -> ScannedFile:
    """First pass: count the events, hash the file, and find whether it is in received_at order."""
    digest = hashlib.sha256()
    events = 0
    in_order = True
    last = _BEFORE_ANY
    with path.open("rb") as f:
        for chunk in _chunks(f, digest):
            events += chunk.count(b"\n") - _blank_lines(chunk)
            if in_order:
                checked = _chunk_in_order(chunk, last)
                in_order, last = _exact_in_order(chunk, last) if checked is None else checked
    scanned = ScannedFile(index, path, digest.hexdigest(), events, in_order)
    if not in_order:
        _index_keys(scanned)
    return scanned


def _index_keys(scanned: ScannedFile) -> None:
    """The second pass of a file out of order: every line's received_at, offset and number."""
    keys: array[int] = array("q")
    offsets: array[int] = array("q")
    numbers: array[int] = array("q")
    last = 0
    offset = 0
    with scanned.path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            start = offset
            offset += len(line)
            if not line.strip():
                continue
            key = received_at_us(line) if len(line) <= MAX_LINE_BYTES else None
            if key is None:
                key = last
            last = key
            keys.append(key)
            offsets.append(start)
            numbers.append(number)
    scanned.keys, scanned.offsets, scanned.line_numbers = keys, offsets, numbers


# -- reading in order -------------------------------------------------------------------------


def _parse(line: bytes) -> Event | Ignored | InputError:
    if len(line) > MAX_LINE_BYTES:
        return InputError(f"line is {len(line):,} bytes; at most {MAX_LINE_BYTES:,}")
    try:
        return parse_event_line(line)
    except InputError as exc:
        return exc


def _lines_in_order(scanned: ScannedFile, skip: int) -> Iterator[Item]:
    index = scanned.index
    last = _BEGINNING
    position = 0
    with scanned.path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            raw = line.rstrip(b"\r\n")
            if not raw or raw.isspace():
                continue
            position += 1
            if position <= skip:
                continue
            parsed = _parse(raw)
            if type(parsed) is InputError:
                yield last, index, number, raw, parsed
                continue
            received = parsed.received_at  # type: ignore[union-attr]
            if received < last:
                raise InputOrderError(
                    f"{scanned.path}: line {number} is earlier than the line before it, "
                    "although the first pass found the file in order"
                )
            last = received
            yield received, index, number, raw, parsed


def _lines_sorted(scanned: ScannedFile, skip: int) -> Iterator[Item]:
    keys, offsets, numbers = scanned.keys, scanned.offsets, scanned.line_numbers
    assert keys is not None
    assert offsets is not None
    assert numbers is not None
    index = scanned.index
    order = sorted(range(len(keys)), key=keys.__getitem__)
    with scanned.path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        for position in order[skip:]:
            start = offsets[position]
            end = data.find(b"\n", start)
            raw = (data[start:] if end < 0 else data[start:end]).rstrip(b"\r")
            yield from_us(keys[position]), index, numbers[position], raw, _parse(raw)


def read_in_order(scanned: ScannedFile, skip: int = 0) -> Iterator[Item]:
    """The file's events in received_at order, parsed, after the first ``skip`` of them."""
    if scanned.in_order:
        return _lines_in_order(scanned, skip)
    return _lines_sorted(scanned, skip)


def _merge(streams: list[Iterator[Item]]) -> Iterator[Item]:
    """A k-way merge on (received_at, file index): ``heapq.merge`` without its generator cost."""
    heap: list[tuple[datetime, int, Item, Iterator[Item]]] = []
    for stream in streams:
        first = next(stream, None)
        if first is not None:
            heap.append((first[0], first[1], first, stream))
    heapq.heapify(heap)
    while len(heap) > 1:
        _key, index, item, stream = heap[0]
        yield item
        following = next(stream, None)
        if following is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (following[0], index, following, stream))
    if heap:
        yield heap[0][2]
        yield from heap[0][3]


def merged(files: list[ScannedFile], skips: list[int]) -> Iterator[Item]:
    """All files' events in spec §5 order; ``skips[i]`` events of file i are already applied."""
    streams = [read_in_order(f, skip) for f, skip in zip(files, skips, strict=True)]
    if len(streams) == 1:
        return streams[0]
    return _merge(streams)
