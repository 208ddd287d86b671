"""``poagate maintenance run`` (spec §15): one maintenance pass over the store — purge what is
past its retention, give the space back — with or without a server running, printing the rows
purged per kind (``poagate.service.maintenance``; ``poagate serve`` makes the same pass every
hour)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from poagate.cli.shared import FAILURE, DatabaseOption, fail, out, store_errors

maintenance_app = typer.Typer(
    help="Purge what is past its retention (spec §15).", no_args_is_help=True
)


@maintenance_app.command("run")
def run(
    database: DatabaseOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be purged; change nothing.")
    ] = False,
) -> None:
    """Purge what is past the retention in force (GET /v1/config, key retention), never what
    a DNO or a guard may still need; print the rows purged per kind. One process at a time
    runs a pass: another's pass in progress makes this one do nothing (exit status 1)."""
    from poagate.service.maintenance import LeaseLostError, maintain
    from poagate.store.database import open_store

    try:
        with store_errors(), open_store(database, "service") as store:
            done = maintain(store, datetime.now(UTC), dry_run=dry_run)
    except LeaseLostError as lost:
        fail(f"{lost}; what it purged before stopping stays purged", FAILURE)
    if not done.ran:
        fail("another process is running a maintenance pass; try again later", FAILURE)
    title = "would be purged (dry run)" if dry_run else "purged"
    table = Table(title=f"poagate maintenance: rows {title}", header_style="bold")
    table.add_column("kind")
    table.add_column("rows", justify="right")
    for kind, rows in done.purged.items():
        table.add_row(kind, f"{rows:,}")
    out.print(table)
    out.print(
        f"database size: {done.size_before:,} bytes before, {done.size_after:,} after",
        highlight=False,
    )
    if not dry_run:
        out.print(
            f"took {done.purge_seconds:.1f} s deleting ({done.purge_held_seconds:.1f} s of it "
            f"holding the writer; {done.purge_yields:,} rests made longer for other writers), "
            f"{done.space_seconds:.1f} s giving back space",
            highlight=False,
        )
