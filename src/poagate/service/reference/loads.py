"""Loading reference data from files (spec §3, §11): full inventory loads, change files and
GUID lists, streamed a block of lines at a time — ``poagate inventory``, the HTTP API (which
first spools a request body to a file) and a replay all load through here.

A full load commits every million rows or so, with how far the file got: run again on the same
file (its name and size) after a crash, it resumes there rather than from the start.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from poagate.domain.ids import IdentifierError, parse_device_id
from poagate.domain.reference import GuidListVersion
from poagate.domain.safety import (
    Judgement,
    LoadRefused,
    ReferenceLimits,
    enforce,
    judge_rejected,
    judge_shrink,
)
from poagate.formats.errors import InputError, Rejection, truncate_raw
from poagate.formats.reference.device_records import STAGED, Manufacturers, Records, device_key
from poagate.formats.reference.guid_list import GuidListLines
from poagate.formats.reference.inventory import COLUMNS
from poagate.formats.reference.inventory_columns import (
    Header,
    InventoryColumns,
    read_header,
    split_rows,
)
from poagate.formats.reference.lines import (
    MAX_LINE_BYTES,
    LineBlock,
    Sha256Reader,
    line_blocks,
    without_first_line,
)
from poagate.service.inputs import file_sha256
from poagate.store.ports import FleetLoads, ReferenceLoading
from poagate.store.reference.fleet import KEPT_VERSIONS, InventoryLoad

COMMIT_ROWS = 1_000_000  # a full load commits (and may resume) about this often
GUID_COMMIT_IDS = 200_000
REJECTED_SHOWN = 1_000  # rejected rows listed in an answer; all are in the store


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while millions of short-lived rows are made.

    None of them forms a reference cycle, so reference counting frees each as usual; but the
    collector, run every few hundred allocations, rescans every live object each time: measured,
    it triples the cost of splitting a block of CSV lines into rows (0.75 µs a row against
    2.2), and it more than doubles the cost of deciding an AD1 in a replay (4.5 µs against
    2.1). One collection at the end catches anything else.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.collect()


@dataclass(slots=True)
class LoadResult:
    """A version of reference data and the rows it rejected (the first ``REJECTED_SHOWN``),
    and, when it was judged against the limits of spec §17, the figures and any limit a
    forced load went past."""

    version: InventoryLoad
    rejected: list[Rejection] = field(default_factory=list)
    resumed: bool = False
    judgement: Judgement | None = None


def _first_line(path: Path, what: str) -> str:
    with path.open("rb") as stream:
        line = stream.readline(MAX_LINE_BYTES)
    if not line.strip():
        raise InputError(f"{path}: the {what} is empty; it needs a header row")
    try:
        return line.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: line 1 is not UTF-8 text ({exc.reason})") from None


def load_inventory(
    store: ReferenceLoading,
    path: Path,
    at: datetime,
    source: str | None = None,
    resume: bool = True,
    limits: ReferenceLimits | None = None,
    keep: int = KEPT_VERSIONS,
) -> LoadResult:
    """A full load of the inventory file at ``path`` (spec §11); resumes a load of the same file
    a crash cut short. Raises ``InputError`` when the header is unusable, and with ``limits``
    ``LoadRefused`` when the load goes past them unforced (spec §17: the load is then
    ``refused`` and nothing changes). ``keep`` replaced versions stay ready for a rollback."""
    source = source or str(path)
    header = read_header(_first_line(path, "inventory"), source)
    size = path.stat().st_size
    fleet = store.fleet
    earlier = fleet.resumable(source, size) if resume else None
    with collector_paused(), path.open("rb") as raw:
        stream = Sha256Reader(raw)
        if earlier is not None:
            load_id = earlier.id
            offset, lines_done, _ = fleet.progress(load_id)
            names = fleet.manufacturers(load_id)
            while stream.size < offset:  # the part already loaded, hashed again
                stream.read(min(1 << 22, offset - stream.size))
            blocks = line_blocks(stream, offset=offset, first_line=lines_done + 1)
        else:
            load_id = fleet.begin(source, size, at)
            names, lines_done = [], 1
            blocks = _after_header(line_blocks(stream))
        columns = InventoryColumns(source, header, Manufacturers(names))
        shown: list[Rejection] = []
        pending: list[Records] = []
        rejected: list[Rejection] = []
        rows_read = staged = 0
        last_line = lines_done
        for block in blocks:
            parsed = columns.parse(block)
            last_line = block.first_line + block.line_count - 1
            pending.append(parsed.records)
            rejected += parsed.rejected
            rows_read += parsed.rows_read
            staged += len(parsed.records)
            if staged >= COMMIT_ROWS and block.end is not None:
                fleet.stage(
                    load_id,
                    np.concatenate(pending),
                    rejected,
                    rows_read,
                    (block.end, last_line),
                    columns.manufacturers,
                )
                shown += rejected[: REJECTED_SHOWN - len(shown)]
                pending, rejected, rows_read, staged = [], [], 0, 0
        fleet.stage(
            load_id,
            np.concatenate(pending) if pending else np.empty(0, STAGED),
            rejected,
            rows_read,
            (stream.size, last_line),
            columns.manufacturers,
        )
        shown += rejected[: REJECTED_SHOWN - len(shown)]
        judgement = None if limits is None else _judge_rows(fleet, load_id, limits, keep)
        admit = None
        if limits is not None and judgement is not None:
            admit = partial(judge_after, limits, judgement, "inventory", "devices")
        version = fleet.finish(load_id, stream.hexdigest(), at, admit, keep)
    return LoadResult(version, shown, earlier is not None, judgement)


def _judge_rows(fleet: FleetLoads, load_id: int, limits: ReferenceLimits, keep: int) -> Judgement:
    """The rejected rows of a staged full load judged, before its rows are sorted: refused
    here (``refused``, nothing in force) when over the limit and not forced."""
    staged = fleet.version(load_id)
    assert staged is not None
    judgement = Judgement({"load": load_id})
    judge_rejected(limits, judgement, staged.rows_read, staged.rows_rejected)
    try:
        enforce(limits, "inventory", judgement)
    except LoadRefused:
        fleet.refuse(load_id, keep)
        raise
    return judgement


def judge_after(
    limits: ReferenceLimits,
    judgement: Judgement,
    what: str,
    noun: str,
    in_force: int,
    after: int,
) -> None:
    """Judge what a version would leave in force (spec §17); raises ``LoadRefused``."""
    judge_shrink(limits, judgement, noun, in_force, after)
    enforce(limits, what, judgement)


def _after_header(blocks: Iterator[LineBlock]) -> Iterator[LineBlock]:
    """The blocks after the header line (line 1)."""
    for block in blocks:
        if block.first_line == 1:
            block = without_first_line(block)
            if block.line_count == 0:
                continue
        yield block


CHANGE_COLUMNS = ("change", *COLUMNS)


def apply_changes(
    store: ReferenceLoading,
    path: Path,
    at: datetime,
    source: str | None = None,
    limits: ReferenceLimits | None = None,
) -> LoadResult:
    """Apply the change file at ``path`` (spec §11): ``upsert`` rows are inventory rows,
    ``remove`` rows need only a ``device_id``. One transaction; the cost grows with the file.
    With ``limits``, refused (``LoadRefused``, nothing written) when it would leave fewer than
    ``max_shrink`` of the devices in force; its rejected rows are not judged (spec §17: a
    rejected change row changes nothing)."""
    source = source or str(path)
    layout = read_header(_first_line(path, "change file"), source, CHANGE_COLUMNS)
    where = layout.positions[0]
    device_at = layout.positions[1]
    inventory = InventoryColumns(
        source, Header(layout.positions[1:], layout.width), Manufacturers()
    )
    upserts: list[Records] = []
    removals: list[tuple[int, int]] = []
    rejected: list[Rejection] = []
    rows_read = 0
    with collector_paused(), path.open("rb") as raw:
        stream = Sha256Reader(raw)
        for block in _after_header(line_blocks(stream)):
            rows, lines, bad, read = split_rows(block, layout.width, source)
            rejected += bad
            rows_read += read
            kept: list[list[str]] = []
            kept_lines: list[int] = []
            for row, line in zip(rows, lines.tolist(), strict=True):
                change = row[where].strip().lower()
                if change == "upsert":
                    kept.append(row)
                    kept_lines.append(line)
                elif change == "remove":
                    try:
                        removals.append((device_key(parse_device_id(row[device_at].strip())), line))
                    except IdentifierError as exc:
                        rejected.append(_rejection(source, line, f"device_id: {exc}", row))
                else:
                    rejected.append(
                        _rejection(
                            source, line, f"change {row[where]!r} is not upsert or remove", row
                        )
                    )
            upserts.append(inventory.parse_rows(kept, np.array(kept_lines, np.uint32), rejected))
        removed = np.zeros(len(removals), STAGED)
        if removals:
            removed["key"], removed["line"] = zip(*removals, strict=True)
        judgement = None if limits is None else Judgement()
        admit = None
        if limits is not None and judgement is not None:
            admit = partial(judge_after, limits, judgement, "change file", "devices")
        version = store.fleet.apply_changes(
            np.concatenate(upserts) if upserts else np.empty(0, STAGED),
            removed,
            inventory.manufacturers.names,
            rejected,
            rows_read,
            source,
            stream.hexdigest(),
            at,
            admit,
        )
    return LoadResult(version, rejected[:REJECTED_SHOWN], judgement=judgement)


def _rejection(source: str, line: int, error: str, row: list[str]) -> Rejection:
    return Rejection(source, line, error, truncate_raw(",".join(row)))


@dataclass(slots=True)
class GuidLoad:
    version: GuidListVersion
    new: bool
    rejected: list[Rejection]
    rows_rejected: int
    judgement: Judgement | None = None


def load_guid_list(
    store: ReferenceLoading,
    path: Path,
    at: datetime,
    source: str | None = None,
    limits: ReferenceLimits | None = None,
) -> GuidLoad:
    """Load the GUID list at ``path`` (spec §3, §11): a new version unless its content is that
    of the version in force. With ``limits``, refused (``LoadRefused``, nothing changes) when
    it goes past them unforced (spec §17)."""
    source = source or str(path)
    reference = store.reference
    number = reference.begin_guid_list()
    reader = GuidListLines(source)
    shown: list[Rejection] = []
    count = 0
    with collector_paused(), path.open("rb") as raw:
        stream = Sha256Reader(raw)
        found: set[str] = set()
        rejected: list[Rejection] = []
        for block in line_blocks(stream):
            ids, bad = reader.parse(block)
            found |= ids
            rejected += bad
            if len(found) >= GUID_COMMIT_IDS:
                reference.stage_guid_list(number, found, rejected)
                count += len(rejected)
                shown += rejected[: REJECTED_SHOWN - len(shown)]
                found, rejected = set(), []
        reference.stage_guid_list(number, found, rejected)
        count += len(rejected)
        shown += rejected[: REJECTED_SHOWN - len(shown)]
        judgement = admit = None
        if limits is not None:
            judgement = Judgement()
            judge_rejected(limits, judgement, reader.rows_read, count)
            admit = partial(judge_after, limits, judgement, "GUID list", "entries")
        version, new = reference.finish_guid_list(number, source, stream.hexdigest(), at, admit)
    return GuidLoad(version, new, shown, count, judgement)


def load_reference(
    store: ReferenceLoading, inventory_path: Path | None, guid_path: Path, now: datetime
) -> dict[str, Any]:
    """A replay's reference data (spec §8, §11): the inventory unless the file is the version
    in force (or none is given and the store holds one), and the GUID list unless the file is
    the one loaded last. What was done, for the summary."""
    fleet = store.fleet
    latest = fleet.latest()
    inventory_loaded = False
    if inventory_path is None:
        if latest is None:
            raise InputError(
                "--inventory is needed: the database holds no inventory to decide against"
            )
    elif (
        latest is None
        or latest.kind not in ("full", "rollback")
        or latest.sha256 != file_sha256(inventory_path)
    ):
        latest = load_inventory(store, inventory_path, now).version
        inventory_loaded = True
    assert latest is not None
    reference = store.reference
    guid_new, guid_rejected = False, 0
    if reference.last_guid_list_file() != file_sha256(guid_path):
        loaded = load_guid_list(store, guid_path, now)
        guid_new, guid_rejected = loaded.new, loaded.rows_rejected
    version = reference.guid_version()
    return {
        "inventory": {
            "load": latest.id,
            "kind": latest.kind,
            "loaded_now": inventory_loaded,
            "sha256": latest.sha256,
            "rows_accepted": latest.rows_accepted,
            "rows_rejected": latest.rows_rejected,
            "devices": latest.device_count,
        },
        "guid_list": {
            "version": None if version is None else version.number,
            "new_version": guid_new,
            "entries": 0 if version is None else version.entry_count,
            "sha256": None if version is None else version.sha256,
            "rows_rejected_now": guid_rejected,
        },
    }
