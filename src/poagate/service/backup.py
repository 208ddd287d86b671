"""``poagate backup`` and ``poagate restore`` (spec §15).

A backup is one uncompressed tar file: ``manifest.json`` first, then the store's copy
(``store.snapshots``: a SQLite file, or a ``pg_dump`` custom-format dump). The manifest says
what the copy is — poagate's version, the backend, the schema revision, the rows of every
table — and the copy's size and SHA-256, so a restore can tell a whole backup from a damaged
one before it touches its target.

A restore refuses, before writing anything: a file that is not a whole backup (a damaged tar,
a copy whose SHA-256 is not the manifest's), a backup of a newer schema than this poagate
knows, a backup of the other backend, and a target that holds data (unless ``force``, or unless
a restore into it did not finish). Then it writes its target in the steps of ``Target``, the
restore marker set first and cleared last, checks the rows of every table against the
manifest, and brings an older schema up to date.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from poagate import __version__
from poagate.formats.timestamps import format_timestamp
from poagate.service.replay import NoProgress, Progress
from poagate.store.database import default_database, is_postgres, sqlite_path
from poagate.store.schema import SCHEMA_REVISION
from poagate.store.snapshots import snapshot, target

BACKUP_FORMAT = "poagate-backup"
BACKUP_VERSION = 1
MANIFEST = "manifest.json"
STEPS = ("verified", "marked", "loaded", "counted", "upgraded", "done")


class BackupError(RuntimeError):
    """A backup or restore that was not done, and why (nothing of the target was changed unless
    the message says so)."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a backup holds (``manifest.json``)."""

    body: dict[str, Any]

    @property
    def schema_revision(self) -> str:
        return str(self.body["schema_revision"])

    @property
    def backend(self) -> str:
        return str(self.body["backend"])

    @property
    def tables(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.body["tables"].items()}

    @property
    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = self.body["payload"]
        return payload


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _scratch(beside: Path) -> Iterator[Path]:
    """A folder for intermediate files on the file system of ``beside`` (a copy of a store may
    be large), removed after."""
    beside.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".poagate-", dir=beside) as folder:
        yield Path(folder)


def _where(database: str) -> Path:
    """Where to put a restore's intermediate files: beside a SQLite target, else in the temporary
    folder."""
    if is_postgres(database):
        return Path(tempfile.gettempdir())
    return sqlite_path(database).resolve().parent


def backup(database: str | None, out: Path, progress: Progress | None = None) -> Manifest:
    """A consistent copy of the store at ``database`` in the backup file ``out`` (see the module
    docstring); ``out`` appears whole or not at all."""
    progress = progress or NoProgress()
    database = database or default_database()
    out = out.resolve()
    with _scratch(out.parent) as folder:
        progress.phase("Copying the store", None)
        copy = snapshot(database, folder)
        progress.phase("Checking the copy", None)
        manifest = Manifest(
            {
                "format": BACKUP_FORMAT,
                "version": BACKUP_VERSION,
                "poagate_version": __version__,
                "backend": copy.backend,
                "schema_revision": copy.schema_revision,
                "taken_at": format_timestamp(datetime.now(UTC)),
                "tables": copy.tables,
                "payload": {
                    "name": copy.payload.name,
                    "bytes": copy.payload.stat().st_size,
                    "sha256": _sha256(copy.payload),
                },
                "details": copy.details,
            }
        )
        progress.phase("Writing the backup", None)
        partial = out.with_name(out.name + ".partial")
        partial.unlink(missing_ok=True)
        # Readable by its owner alone: it holds the DNOs' webhook signing secrets.
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as stream:
            with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tar:
                _add_bytes(tar, MANIFEST, _manifest_bytes(manifest))
                tar.add(copy.payload, arcname=copy.payload.name)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(partial, out)
    return manifest


def _manifest_bytes(manifest: Manifest) -> bytes:
    return orjson.dumps(manifest.body, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(datetime.now(UTC).timestamp())
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def read_manifest(path: Path) -> Manifest:
    """The manifest of the backup at ``path``, or ``BackupError`` if it is none."""
    try:
        with tarfile.open(path, mode="r:") as tar:
            member = tar.next()
            if member is None or member.name != MANIFEST or not member.isfile():
                raise BackupError(f"{path} is not a poagate backup (no {MANIFEST} first)")
            stream = tar.extractfile(member)
            assert stream is not None
            body = orjson.loads(stream.read())
    except (tarfile.TarError, orjson.JSONDecodeError, EOFError) as exc:
        raise BackupError(f"{path} is not a whole poagate backup: {exc}") from exc
    if not isinstance(body, dict) or body.get("format") != BACKUP_FORMAT:
        raise BackupError(f"{path} is not a poagate backup")
    if body.get("version") != BACKUP_VERSION:
        raise BackupError(f"{path} is a backup of format {body.get('version')}, not this one's")
    return Manifest(body)


def _extract_payload(path: Path, manifest: Manifest, folder: Path) -> Path:
    """The backup's copy of the store, written to ``folder`` and checked against the manifest."""
    name = str(manifest.payload["name"])
    copy = folder / name
    digest = hashlib.sha256()
    size = 0
    try:
        with tarfile.open(path, mode="r:") as tar:
            member = tar.getmember(name)
            source = tar.extractfile(member)
            if source is None:
                raise BackupError(f"{path} holds no file {name}")
            with copy.open("wb") as sink:
                size = _copy(source, sink, digest)
    except (tarfile.TarError, KeyError, EOFError, OSError) as exc:
        raise BackupError(f"{path} is not a whole poagate backup: {exc}") from exc
    if size != manifest.payload["bytes"] or digest.hexdigest() != manifest.payload["sha256"]:
        raise BackupError(
            f"{path} is damaged: its {name} does not have the SHA-256 its manifest gives "
            "(nothing was restored)"
        )
    return copy


def _copy(source: IO[bytes], sink: IO[bytes], digest: Any) -> int:
    size = 0
    for chunk in iter(lambda: source.read(1 << 20), b""):
        digest.update(chunk)
        sink.write(chunk)
        size += len(chunk)
    return size


def restore(
    source: Path,
    database: str | None,
    force: bool = False,
    progress: Progress | None = None,
    on_step: Callable[[str], None] | None = None,
) -> Manifest:
    """Restore the backup at ``source`` into the store at ``database`` (see the module
    docstring). ``on_step`` hears each of ``STEPS`` as it is reached."""
    progress = progress or NoProgress()
    database = database or default_database()
    step = on_step or (lambda _name: None)
    progress.phase("Reading the backup", None)
    manifest = read_manifest(source)
    if manifest.schema_revision > SCHEMA_REVISION:
        raise BackupError(
            f"{source} is a backup of schema revision {manifest.schema_revision}, newer than "
            f"this poagate knows ({SCHEMA_REVISION}); restore it with that poagate or a later one"
        )
    wanted = "postgresql" if is_postgres(database) else "sqlite"
    if manifest.backend != wanted:
        raise BackupError(
            f"{source} is a backup of a {manifest.backend} store; it restores into a "
            f"{manifest.backend} store, not into {wanted}"
        )
    with _scratch(_where(database)) as folder, target(database) as store:
        progress.phase("Checking the backup's SHA-256", None)
        payload = _extract_payload(source, manifest, folder)
        step("verified")
        if store.marker() is None and store.has_rows() and not force:
            raise BackupError(
                f"{database} already holds data; restoring would replace it: give --force to "
                "replace it (nothing was changed)"
            )
        note = f"restore of {source.name} (taken {manifest.body.get('taken_at')}) begun at " + (
            format_timestamp(datetime.now(UTC))
        )
        progress.phase("Restoring", None)
        store.mark(note)
        step("marked")
        store.load(payload)
        step("loaded")
        progress.phase("Checking the rows of every table", None)
        _check_counts(manifest.tables, store.counts())
        step("counted")
        progress.phase(f"Bringing the schema to revision {SCHEMA_REVISION}", None)
        store.upgrade()
        step("upgraded")
        store.clear()
        step("done")
    return manifest


def _check_counts(expected: dict[str, int], found: dict[str, int]) -> None:
    wrong = {
        name: (rows, found.get(name)) for name, rows in expected.items() if found.get(name) != rows
    }
    if wrong:
        listed = ", ".join(
            f"{name}: {got} rows, backup had {rows}" for name, (rows, got) in wrong.items()
        )
        raise BackupError(
            f"the restored store does not hold what the backup holds ({listed}); it stays "
            "marked incomplete"
        )
