"""The GUID list (SPEC §3): one Device ID per line, as text or a one-column CSV.

Blank lines, ``#`` comments and a first line that is a header rather than a Device ID are
skipped; any other line that is not a Device ID is rejected with its line number. The SHA-256
identifies the content independently of order, case and spelling: it is taken over the sorted,
distinct, canonical Device IDs, one per line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import IO

from poagate.domain.ids import IdentifierError, parse_device_id
from poagate.domain.values import value
from poagate.formats.errors import Rejection, truncate_raw


@value
class GuidListFile:
    devices: frozenset[str]
    sha256: str
    rejected: tuple[Rejection, ...]


def content_sha256(devices: Iterable[str]) -> str:
    return hashlib.sha256("".join(f"{d}\n" for d in sorted(devices)).encode()).hexdigest()


def read_guid_list(stream: IO[str], source: str) -> GuidListFile:
    devices: set[str] = set()
    rejected: list[Rejection] = []
    first = True
    for number, raw in enumerate(stream, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        cell = text.split(",", 1)[0].strip().strip('"')
        try:
            devices.add(parse_device_id(cell))
        except IdentifierError as exc:
            if not first:
                rejected.append(Rejection(source, number, str(exc), truncate_raw(raw.rstrip("\n"))))
        first = False
    frozen = frozenset(devices)
    return GuidListFile(frozen, content_sha256(frozen), tuple(rejected))
