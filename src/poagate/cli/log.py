"""``poagate log export``: one DNO's Suppression Log entries as CSV or JSON Lines."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from poagate.cli.shared import FAILURE, DatabaseOption, err, fail, store_errors
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
