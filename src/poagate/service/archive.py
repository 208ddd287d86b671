"""``poagate log archive`` (spec §15): the Suppression Log and the forwarded AD1s received before
a date, as Apache Parquet files, one per kind, DNO and month, with a manifest.

The files are for any tool that reads Parquet (DuckDB, pandas, Spark); docs/operations.md
("Archive") documents their columns. The same store and arguments give the same bytes: rows
are in decision order, row groups have a fixed size, the writer's options are fixed and no
file carries the time it was written, so an archive can be taken again and compared by its
SHA-256 before the months are purged. Each file is written beside its name and renamed into
place, so a file in the folder is always whole.

Reads go through the store's listings (``LogReaders``), a month at a time: memory holds one row
group per open file, not the months being archived.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from poagate.domain.outcomes import ForwardedAlert, SuppressionEntry
from poagate.formats.records import FORWARDED_FIELDS, SUPPRESSION_FIELDS
from poagate.formats.timestamps import format_timestamp
from poagate.service.replay import NoProgress, Progress
from poagate.store.alerts.listings import OutcomeFilter
from poagate.store.ports import LogReaders

ARCHIVE_FORMAT = "poagate-archive"
ARCHIVE_VERSION = 1
MANIFEST = "manifest.json"
SUPPRESSION_LOG = "suppression_log"
FORWARDED = "forwarded"
UNROUTED = "unrouted"  # the file name's operator for AD1s routed to none (R8)
ROW_GROUP_ROWS = 65_536  # fixed, so that the same rows give the same row groups

_TIME = pa.timestamp("us", tz="UTC")
_TIMES = {"event_at", "received_at", "decided_at", "window_start", "window_end", "released_at"}
_NULLABLE = {"mpan", "released_at", "release_reason"}

# The columns: the spec §7 fields of each kind, in that order; times in microseconds, UTC.
SCHEMAS: dict[str, pa.Schema] = {
    kind: pa.schema(
        [
            pa.field(name, _TIME if name in _TIMES else pa.string(), nullable=name in _NULLABLE)
            for name in names
        ]
    )
    for kind, names in ((SUPPRESSION_LOG, SUPPRESSION_FIELDS), (FORWARDED, FORWARDED_FIELDS))
}
# Fixed writer options: the same rows give the same bytes with the same pyarrow.
_WRITER_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
}


class ArchiveError(RuntimeError):
    """The archive could not be written as asked (the message says why)."""


@dataclass(frozen=True, slots=True)
class ArchivedFile:
    """One Parquet file of an archive, as its manifest lists it."""

    path: str  # relative to the archive's folder
    kind: str
    network_operator: str
    month: str  # YYYY-MM of received_at, UTC
    rows: int
    sha256: str
    bytes: int


@dataclass(frozen=True, slots=True)
class Archive:
    """What ``archive_log`` wrote: its files, and the manifest that lists them."""

    before: datetime
    network_operator: str | None
    files: tuple[ArchivedFile, ...]
    manifest: Path

    def rows(self, kind: str) -> int:
        return sum(f.rows for f in self.files if f.kind == kind)


def month_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)


def next_month(start: datetime) -> datetime:
    return month_start(start.year + start.month // 12, start.month % 12 + 1)


def file_name(kind: str, network_operator: str, month: str) -> str:
    return f"{kind}/{kind}_{network_operator or UNROUTED}_{month}.parquet"


@dataclass
class _OpenFile:
    """A file being written: its rows buffered by column until a row group is full."""

    kind: str
    network_operator: str
    month: str
    final: Path
    temporary: Path
    writer: pq.ParquetWriter
    columns: dict[str, list[Any]] = field(default_factory=dict)
    buffered: int = 0
    rows: int = 0

    def add(self, outcome: SuppressionEntry | ForwardedAlert) -> None:
        columns = self.columns
        for name in columns:
            columns[name].append(getattr(outcome, name))
        self.buffered += 1
        self.rows += 1
        if self.buffered == ROW_GROUP_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.buffered:
            table = pa.Table.from_pydict(self.columns, schema=SCHEMAS[self.kind])
            self.writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            for values in self.columns.values():
                values.clear()
            self.buffered = 0

    def close(self, folder: Path) -> ArchivedFile:
        self.flush()
        self.writer.close()
        digest = hashlib.sha256()
        with self.temporary.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
        size = self.temporary.stat().st_size
        os.replace(self.temporary, self.final)
        return ArchivedFile(
            self.final.relative_to(folder).as_posix(),
            self.kind,
            self.network_operator,
            self.month,
            self.rows,
            digest.hexdigest(),
            size,
        )


def _open(folder: Path, kind: str, network_operator: str, month: str) -> _OpenFile:
    final = folder / file_name(kind, network_operator, month)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(final.name + ".partial")
    writer = pq.ParquetWriter(temporary, SCHEMAS[kind], **_WRITER_OPTIONS)
    opened = _OpenFile(kind, network_operator, month, final, temporary, writer)
    opened.columns = {name: [] for name in SCHEMAS[kind].names}
    return opened


def _months(
    store: LogReaders, which: OutcomeFilter
) -> tuple[list[datetime], dict[tuple[str, str, str], int]]:
    """The months that hold AD1s ``which`` selects, and how many rows each file will have (the
    store's own counts, to check what is written against)."""
    expected: dict[tuple[str, str, str], int] = {}
    months: set[tuple[int, int]] = set()
    for day in store.listings.daily_counts(which):
        months.add((day.day.year, day.day.month))
        month = f"{day.day.year:04d}-{day.day.month:02d}"
        for kind, rows in ((SUPPRESSION_LOG, day.suppressed), (FORWARDED, day.forwarded)):
            if rows:
                key = (kind, day.network_operator, month)
                expected[key] = expected.get(key, 0) + rows
    return [month_start(y, m) for y, m in sorted(months)], expected


def _month_outcomes(
    store: LogReaders, start: datetime, until: datetime, operators: frozenset[str] | None
) -> Iterator[SuppressionEntry | ForwardedAlert]:
    which = OutcomeFilter(network_operators=operators, since=start, until=until)
    yield from store.listings.ad1_outcomes(which)


def archive_log(
    store: LogReaders,
    before: date,
    out: Path,
    network_operator: str | None = None,
    progress: Progress | None = None,
) -> Archive:
    """Write the Suppression Log entries and forwarded AD1s received before ``before`` (00:00
    UTC), of every DNO or of ``network_operator``, to ``out`` (see the module docstring)."""
    progress = progress or NoProgress()
    cutoff = datetime(before.year, before.month, before.day, tzinfo=UTC)
    operators = None if network_operator is None else frozenset({network_operator})
    out.mkdir(parents=True, exist_ok=True)
    progress.phase("Counting what to archive", None)
    months, expected = _months(store, OutcomeFilter(network_operators=operators, until=cutoff))
    progress.phase("Archiving the Suppression Log and forwarded AD1s", sum(expected.values()))
    written: list[ArchivedFile] = []
    for start in months:
        month = f"{start.year:04d}-{start.month:02d}"
        files: dict[tuple[str, str], _OpenFile] = {}
        count = 0
        for outcome in _month_outcomes(store, start, min(next_month(start), cutoff), operators):
            kind = SUPPRESSION_LOG if type(outcome) is SuppressionEntry else FORWARDED
            key = (kind, outcome.network_operator)
            opened = files.get(key)
            if opened is None:
                opened = files[key] = _open(out, kind, outcome.network_operator, month)
            opened.add(outcome)
            count += 1
            if count % 10_000 == 0:
                progress.advance(10_000)
        progress.advance(count % 10_000)
        for key in sorted(files):
            archived = files[key].close(out)
            wanted = expected.get((archived.kind, archived.network_operator, month), 0)
            if archived.rows != wanted:
                raise ArchiveError(
                    f"{archived.path} has {archived.rows} rows where the store counted {wanted}; "
                    "entries of that month changed while it was archived: run it again"
                )
            written.append(archived)
    manifest = out / MANIFEST
    _write_manifest(manifest, cutoff, network_operator, written)
    return Archive(cutoff, network_operator, tuple(written), manifest)


def _write_manifest(
    path: Path, cutoff: datetime, network_operator: str | None, files: list[ArchivedFile]
) -> None:
    """The manifest, as JSON with sorted keys: nothing in it changes when the same archive is
    written again (no time of writing)."""
    body = {
        "format": ARCHIVE_FORMAT,
        "version": ARCHIVE_VERSION,
        "before": format_timestamp(cutoff),
        "network_operator": network_operator,
        "rows": {
            kind: sum(f.rows for f in files if f.kind == kind)
            for kind in (SUPPRESSION_LOG, FORWARDED)
        },
        "files": [
            {
                "path": f.path,
                "kind": f.kind,
                "network_operator": f.network_operator,
                "month": f.month,
                "rows": f.rows,
                "sha256": f.sha256,
                "bytes": f.bytes,
            }
            for f in sorted(files, key=lambda f: f.path)
        ],
    }
    temporary = path.with_name(path.name + ".partial")
    temporary.write_bytes(
        orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )
    os.replace(temporary, path)
