"""``poagate backup`` and ``poagate restore`` (spec §15): the store in one file, and back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from poagate.cli.shared import DatabaseOption, fail, out, progress_bars, store_errors


def backup(
    out_file: Annotated[
        Path, typer.Option("--out", help="The backup file to write (a tar: manifest and copy).")
    ],
    database: DatabaseOption = None,
) -> None:
    """Back up the store while servers keep writing: a consistent copy with its manifest."""
    from poagate.service.backup import BackupError
    from poagate.service.backup import backup as take_backup

    if out_file.is_dir():
        fail(f"--out {out_file} is a folder; name the backup file to write")
    with store_errors(BackupError), progress_bars() as bars:
        manifest = take_backup(database, out_file, bars)
    rows = sum(manifest.tables.values())
    out.print(
        f"{out_file}: {manifest.backend} store at schema revision {manifest.schema_revision}, "
        f"{rows:,} rows in {len(manifest.tables)} tables, SHA-256 "
        f"{manifest.payload['sha256']}",
        highlight=False,
    )


def restore(
    source: Annotated[
        Path, typer.Option("--from", help="The backup file (written by poagate backup).")
    ],
    database: DatabaseOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a store that holds data.")
    ] = False,
) -> None:
    """Restore a backup into a store: refuses a damaged backup, a newer schema and (without
    --force) a store that holds data; brings an older schema up to date."""
    from poagate.cli.shared import readable_file
    from poagate.service.backup import BackupError
    from poagate.service.backup import restore as restore_backup

    readable_file(source, "backup")
    with store_errors(BackupError), progress_bars() as bars:
        manifest = restore_backup(source, database, force, bars)
    rows = sum(manifest.tables.values())
    out.print(
        f"restored {rows:,} rows in {len(manifest.tables)} tables (backup of schema revision "
        f"{manifest.schema_revision}, poagate {manifest.body.get('poagate_version')})",
        highlight=False,
    )
