"""``poagate log export``: one DNO's Suppression Log entries as CSV or JSON Lines; ``poagate log
archive``: the Suppression Log and forwarded AD1s before a date as Parquet files (spec §15)."""

from __future__ import annotations

import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from poagate.cli.shared import (
    FAILURE,
    DatabaseOption,
    err,
    fail,
    out,
    progress_bars,
    store_errors,
)
from poagate.domain.ids import IdentifierError, parse_network_operator
from poagate.formats.errors import InputError
from poagate.formats.timestamps import parse_timestamp

log_app = typer.Typer(help="Read the Suppression Log.", no_args_is_help=True)


def parse_time_option(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_timestamp(text, option)
    except InputError as exc:
        fail(str(exc))


def reader_gone() -> NoReturn:
    """Standard output's reader closed it (``poagate log export ... | head``): stop quietly,
    as the Python documentation says (signal, "Note on SIGPIPE"): what Python would flush at
    exit goes to /dev/null, and the exit status is 1."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise typer.Exit(FAILURE)


@log_app.command("export")
def log_export(
    network_operator: Annotated[
        str, typer.Option(help="The DNO's two-digit distributor id, e.g. 10.")
    ],
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")],
    since: Annotated[
        str | None,
        typer.Option("--from", help="Entries whose AD1 was received at or after this time."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Entries whose AD1 was received before this time.")
    ] = None,
    database: DatabaseOption = None,
    output: Annotated[
        Path | None, typer.Option(help="Write here instead of standard output.")
    ] = None,
) -> None:
    """Export one DNO's Suppression Log entries."""
    from poagate.service.export import export_suppression_log
    from poagate.store.database import open_store

    try:
        operator = parse_network_operator(network_operator)
    except IdentifierError as exc:
        fail(str(exc))
    if fmt not in ("csv", "jsonl"):
        fail(f"--format must be csv or jsonl, not {fmt!r}")
    start, end = parse_time_option(since, "--from"), parse_time_option(until, "--to")
    if start is not None and end is not None and end <= start:
        fail("--to must be after --from")
    with store_errors(), open_store(database, "read") as store:
        if output is None:
            try:
                count = export_suppression_log(store, operator, fmt, sys.stdout, start, end)
                sys.stdout.flush()
            except BrokenPipeError:
                reader_gone()
        else:
            with output.open("w", encoding="utf-8", newline="") as stream:
                count = export_suppression_log(store, operator, fmt, stream, start, end)
    err.print(f"{count:,} Suppression Log entries for network operator {operator}", highlight=False)


@log_app.command("archive")
def log_archive(
    before: Annotated[
        str,
        typer.Option(
            help="Archive AD1s received before this UTC date (YYYY-MM-DD), e.g. the "
            "first of a month."
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="The folder to write the archive to.")],
    network_operator: Annotated[
        str | None,
        typer.Option(help="Only this DNO's two-digit distributor id (default: every DNO's)."),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Archive the Suppression Log and forwarded AD1s as Parquet, a file per DNO and month."""
    from poagate.service.archive import ArchiveError, archive_log
    from poagate.store.database import open_store

    try:
        cutoff = date.fromisoformat(before)
    except ValueError:
        fail(f"--before must be a date (YYYY-MM-DD), not {before!r}")
    operator = None
    if network_operator is not None:
        try:
            operator = parse_network_operator(network_operator)
        except IdentifierError as exc:
            fail(str(exc))
    with store_errors(ArchiveError), open_store(database, "read") as store, progress_bars() as bars:
        archive = archive_log(store, cutoff, out_dir, operator, bars)
    out.print(
        f"{archive.rows('suppression_log'):,} Suppression Log entries and "
        f"{archive.rows('forwarded'):,} forwarded AD1s in {len(archive.files)} files; "
        f"manifest {archive.manifest}",
        highlight=False,
    )
