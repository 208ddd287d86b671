"""Large reference files as blocks of whole lines: each with its line numbers, where it ends in
the file, and the file's SHA-256 taken on the way.

Inventory and GUID-list files run to gigabytes (spec §11), so they are read a few megabytes at a
time and memory does not grow with the file. A line that is not UTF-8, or longer than any
reference row can be, is not a reason to give up on the file: it is handed on with an error of
its own, so that only that row is rejected.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

BLOCK_BYTES = 4 * 1024 * 1024
MAX_LINE_BYTES = 64 * 1024  # no inventory row or GUID-list line comes near this
_BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class LineBlock:
    """Whole lines of a file: ``lines[i]`` is line ``first_line + i`` (without its ``\\n``).

    ``errors`` maps an index in ``lines`` to why that line cannot be read at all (its text is
    then what could be shown of it). ``end`` is the byte offset just after the block, where a
    load may resume; None after a line too long to read, which ends somewhere further on.
    """

    first_line: int
    text: list[str] | None  # the lines, or None until asked for (``lines``)
    end: int | None
    errors: dict[int, str] = field(default_factory=dict)
    has_nul: bool = True  # whether any line may hold a NUL character
    raw: bytes | None = None  # the lines as read, joined by "\n", when all are UTF-8

    @property
    def lines(self) -> list[str]:
        """The lines as text. A block of ASCII is split only when someone asks: a bulk reader
        may read it from ``raw`` alone."""
        if self.text is None:
            assert self.raw is not None
            self.text = self.raw.decode("ascii").split("\n")
        return self.text

    @property
    def line_count(self) -> int:
        if self.text is None:
            assert self.raw is not None
            return self.raw.count(b"\n") + 1
        return len(self.text)


class Sha256Reader:
    """A binary stream's bytes, counted and hashed as they are read."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int) -> bytes:
        data = self._stream.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data

    def hexdigest(self) -> str:
        return self.digest.hexdigest()


def line_blocks(
    stream: Sha256Reader,
    *,
    offset: int = 0,
    first_line: int = 1,
    block_bytes: int | None = None,
) -> Iterator[LineBlock]:
    """The lines of ``stream`` from byte ``offset`` (which is where line ``first_line`` starts),
    in blocks of about ``block_bytes`` (``BLOCK_BYTES``). A byte-order mark at the start of the
    file is skipped."""
    size = block_bytes or BLOCK_BYTES
    pending = b""
    position = offset
    line = first_line
    at_start = offset == 0
    overlong = False  # inside a line already reported as too long, until its end
    while True:
        data = stream.read(size)
        if at_start:
            at_start = False
            if data.startswith(_BOM):
                data = data[len(_BOM) :]
                position += len(_BOM)
        if not data:
            break
        if overlong:
            cut = data.find(b"\n")
            if cut < 0:
                position += len(data)
                continue
            position += cut + 1
            data = data[cut + 1 :]
            overlong = False
        buffer = pending + data
        cut = buffer.rfind(b"\n")
        if cut < 0:
            if len(buffer) > MAX_LINE_BYTES:
                position += len(buffer)
                yield _too_long(line, buffer)
                line += 1
                pending, overlong = b"", True
            else:
                pending = buffer
            continue
        whole, pending = buffer[:cut], buffer[cut + 1 :]
        position += cut + 1
        block = _decode(whole, line, position)
        line += block.line_count
        yield block
        if len(pending) > MAX_LINE_BYTES:
            position += len(pending)
            yield _too_long(line, pending)
            line += 1
            pending, overlong = b"", True
    if pending:
        position += len(pending)
        yield _decode(pending, line, position)


def without_first_line(block: LineBlock) -> LineBlock:
    """The block without its first line (a header)."""
    raw = block.raw
    if raw is not None:
        cut = raw.find(b"\n")
        raw = b"" if cut < 0 else raw[cut + 1 :]
    return LineBlock(
        block.first_line + 1,
        [] if raw == b"" else None if block.text is None else block.text[1:],
        block.end,
        {i - 1: e for i, e in block.errors.items() if i > 0},
        block.has_nul,
        raw,
    )


def _too_long(line: int, start: bytes) -> LineBlock:
    text = start[:4096].decode("utf-8", "replace")
    return LineBlock(
        line, [text], None, {0: f"the line is longer than {MAX_LINE_BYTES:,} bytes; not read"}
    )


def _decode(whole: bytes, first_line: int, end: int) -> LineBlock:
    if whole.isascii():
        return LineBlock(first_line, None, end, has_nul=b"\x00" in whole, raw=whole)
    try:
        text = whole.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return LineBlock(first_line, text.split("\n"), end, has_nul="\x00" in text, raw=whole)
    lines: list[str] = []
    errors: dict[int, str] = {}
    for index, raw in enumerate(whole.split(b"\n")):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            lines.append(raw.decode("utf-8", "replace"))
            errors[index] = f"the line is not UTF-8 text ({exc.reason})"
    return LineBlock(first_line, lines, end, errors)
