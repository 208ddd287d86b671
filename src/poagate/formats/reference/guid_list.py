"""The GUID list (spec §3): one Device ID per line, as text or a one-column CSV.

Blank lines, ``#`` comments and a first line that is a header rather than a Device ID are
skipped; any other line that is not a Device ID is rejected with its line number. The SHA-256
identifies the content independently of order, case and spelling: it is taken over the sorted,
distinct, canonical Device IDs, one per line.

A national list has millions of lines (spec §11): ``GuidListLines`` reads it a block of lines at
a time (``poagate.formats.reference.lines``), and the store keeps the IDs.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from typing import IO

from poagate.domain.ids import IdentifierError, parse_device_id
from poagate.domain.values import value
from poagate.formats.errors import Rejection, truncate_raw
from poagate.formats.reference.lines import LineBlock, Sha256Reader, line_blocks


@value
class GuidListFile:
    devices: frozenset[str]
    sha256: str
    rejected: tuple[Rejection, ...]


def content_sha256(devices: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for device_id in sorted(devices):
        digest.update(f"{device_id}\n".encode())
    return digest.hexdigest()


class GuidListLines:
    """Reads blocks of a GUID list's lines to canonical Device IDs (see the module docstring)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._first = True  # the first line that is neither blank nor a comment may be a header
        self.rows_read = 0

    def parse(self, block: LineBlock) -> tuple[set[str], list[Rejection]]:
        devices: set[str] = set()
        rejected: list[Rejection] = []
        errors = block.errors
        for index, raw in enumerate(block.lines):
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            number = block.first_line + index
            self.rows_read += 1
            if errors and index in errors:
                self._first = False
                rejected.append(Rejection(self.source, number, errors[index], truncate_raw(raw)))
                continue
            cell = text.split(",", 1)[0].strip().strip('"')
            try:
                devices.add(parse_device_id(cell))
            except IdentifierError as exc:
                if self._first:
                    self.rows_read -= 1  # a header
                else:
                    rejected.append(
                        Rejection(self.source, number, str(exc), truncate_raw(raw.rstrip("\r")))
                    )
            self._first = False
        return devices, rejected


def read_guid_list(stream: IO[str], source: str) -> GuidListFile:
    """A whole (small) GUID list in memory: tests, and tools that hold one already."""
    reader = GuidListLines(source)
    data = Sha256Reader(io.BytesIO(stream.read().encode("utf-8")))
    devices: set[str] = set()
    rejected: list[Rejection] = []
    for block in line_blocks(data):
        found, bad = reader.parse(block)
        devices |= found
        rejected += bad
    frozen = frozenset(devices)
    return GuidListFile(frozen, content_sha256(frozen), tuple(rejected))
