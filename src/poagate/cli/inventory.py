"""``poagate inventory load|apply|rollback|versions`` and ``poagate guid-list
load|rollback|versions``: reference data into a store (spec §3, §11), streamed, alongside
running servers; audited with the actor ``command line (<user>)``.

A full load cut short (a crash, Ctrl-C) resumes where it stopped when run again on the same
file; ``--restart`` starts it over instead. A load or rollback over the reference limits
(spec §17) is refused, says its figures and exits 1; ``--force`` goes ahead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.table import Table

from poagate.cli.shared import (
    FAILURE,
    DatabaseOption,
    actor,
    err,
    fail,
    out,
    readable_file,
    store_errors,
)
from poagate.formats.errors import InputError, Rejection

if TYPE_CHECKING:
    from poagate.store.store import Store

inventory_app = typer.Typer(
    help="The inventory: full loads, change files, versions.", no_args_is_help=True
)
guid_list_app = typer.Typer(help="The GUID list: loads and versions.", no_args_is_help=True)
_T = TypeVar("_T")
FileArgument = Annotated[Path, typer.Argument(help="The file (CSV).")]


ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Go ahead even past the reference limits (rejected rows, shrink, an empty file); "
        "audited with the limits overridden.",
    ),
]
ToOption = Annotated[
    int | None,
    typer.Option("--to", min=1, help="The version to put back (default: the one before)."),
]


def _with_store(database: str | None, work: Callable[[Store], _T]) -> _T:
    from poagate.domain.safety import LoadRefused
    from poagate.store.database import open_store
    from poagate.store.reference.fleet import LoadSuperseded, VersionUnavailableError

    try:
        with store_errors(LoadSuperseded), open_store(database, "service") as store:
            return work(store)
    except InputError as exc:
        fail(str(exc))
    except VersionUnavailableError as exc:
        fail(str(exc), FAILURE)
    except LoadRefused as exc:
        figures = ", ".join(f"{k} {v}" for k, v in exc.judgement.figures.items())
        err.print(f"figures: {figures}", highlight=False, soft_wrap=True)
        fail(str(exc), FAILURE)


def _forced(reasons: list[str]) -> None:
    for reason in reasons:
        err.print(f"[yellow]forced past a limit:[/] {reason}", highlight=False)


def _show_rejected(rejected: list[Rejection], total: int) -> None:
    for r in rejected[:20]:
        err.print(f"[yellow]rejected[/] {r.source}:{r.line}: {r.error}", highlight=False)
    if total > min(len(rejected), 20):
        err.print(
            f"… {total:,} rows rejected in all; every one is kept in the store's rejected input",
            highlight=False,
        )


@inventory_app.command("load")
def inventory_load(
    file: FileArgument,
    database: DatabaseOption = None,
    restart: Annotated[
        bool, typer.Option(help="Start over rather than resume a load of this file cut short.")
    ] = False,
    force: ForceOption = False,
) -> None:
    """Replace the inventory in force with FILE's rows: a new version, switched in at once.
    Refused when over 1% of the rows are rejected or fewer than 90% of the devices in force
    would remain (the configuration's reference limits), unless --force."""
    from poagate.service.reference.acts import load_inventory_act

    readable_file(file, "inventory")
    started = time.perf_counter()
    result = _with_store(
        database,
        lambda store: load_inventory_act(
            store,
            file,
            datetime.now(UTC),
            str(file.resolve()),
            actor(),
            force=force,
            resume=not restart,
        ),
    )
    v = result.version
    _show_rejected(result.rejected, v.rows_rejected)
    _forced([] if result.judgement is None else result.judgement.reasons)
    seconds = time.perf_counter() - started
    out.print(
        f"inventory version {v.id} in force{' (resumed)' if result.resumed else ''}: "
        f"{v.device_count:,} devices from {v.rows_read:,} rows ({v.rows_rejected:,} rejected) "
        f"in {seconds:.1f} s; SHA-256 {v.sha256}",
        highlight=False,
    )


@inventory_app.command("apply")
def inventory_apply(
    file: FileArgument, database: DatabaseOption = None, force: ForceOption = False
) -> None:
    """Apply a change file: a first column `change` (upsert or remove), then the inventory's.
    Refused when fewer than 90% of the devices in force would remain, unless --force."""
    from poagate.service.reference.acts import apply_changes_act

    readable_file(file, "change file")
    started = time.perf_counter()
    result = _with_store(
        database,
        lambda store: apply_changes_act(
            store, file, datetime.now(UTC), str(file.resolve()), actor(), force=force
        ),
    )
    v = result.version
    _show_rejected(result.rejected, v.rows_rejected)
    _forced([] if result.judgement is None else result.judgement.reasons)
    out.print(
        f"inventory version {v.id} applied over {v.base or 'no full load'}: "
        f"{v.rows_accepted - v.rows_removed:,} upserts, {v.rows_removed:,} removals, "
        f"{v.rows_rejected:,} rejected, in {time.perf_counter() - started:.1f} s",
        highlight=False,
    )


@inventory_app.command("rollback")
def inventory_rollback(
    to: ToOption = None, database: DatabaseOption = None, force: ForceOption = False
) -> None:
    """Put an earlier full load back in force, at once, as it was loaded (change files applied
    since it stop applying). By default the full load before the one in force."""
    from poagate.service.reference.acts import rollback_inventory

    done = _with_store(
        database,
        lambda store: rollback_inventory(store, datetime.now(UTC), actor(), to, force=force),
    )
    _forced(done.judgement.reasons)
    v = done.version
    out.print(
        f"inventory version {v.base} in force again (rollback version {v.id}, was "
        f"{done.previous or 'none'}): {v.device_count or 0:,} devices, SHA-256 {v.sha256}",
        highlight=False,
    )


@inventory_app.command("versions")
def inventory_versions(database: DatabaseOption = None) -> None:
    """List the inventory's versions: full loads and change files."""
    from poagate.store.database import open_store

    with store_errors(), open_store(database, "read") as store:
        versions = store.fleet.versions(0, 1_000_000)
    table = Table(header_style="bold")
    for column in ("version", "kind", "state", "loaded", "rows", "rejected", "devices", "sha256"):
        table.add_column(column)
    for v in versions:
        table.add_row(
            str(v.id),
            v.kind,
            v.state,
            v.loaded_at.isoformat(timespec="seconds"),
            f"{v.rows_read:,}",
            f"{v.rows_rejected:,}",
            "" if v.device_count is None else f"{v.device_count:,}",
            v.sha256[:16],
        )
    out.print(table)


@guid_list_app.command("load")
def guid_list_load(
    file: FileArgument, database: DatabaseOption = None, force: ForceOption = False
) -> None:
    """Load a GUID list: a new version unless its content is the version in force. Refused
    when over 1% of its lines are rejected or fewer than 90% of the entries in force would
    remain, unless --force."""
    from poagate.service.reference.acts import load_guid_list_act

    readable_file(file, "GUID list")
    loaded = _with_store(
        database,
        lambda store: load_guid_list_act(
            store, file, datetime.now(UTC), str(file.resolve()), actor(), force=force
        ),
    )
    _show_rejected(loaded.rejected, loaded.rows_rejected)
    _forced([] if loaded.judgement is None else loaded.judgement.reasons)
    v = loaded.version
    state = "new version" if loaded.new else "same content as the version in force"
    out.print(
        f"GUID list version {v.number} ({state}): {v.entry_count:,} devices, SHA-256 {v.sha256}",
        highlight=False,
    )


@guid_list_app.command("rollback")
def guid_list_rollback(
    to: ToOption = None, database: DatabaseOption = None, force: ForceOption = False
) -> None:
    """Put an earlier GUID list version back in force, at once. By default the version before
    the one in force."""
    from poagate.service.reference.acts import rollback_guid_list

    done = _with_store(
        database,
        lambda store: rollback_guid_list(store, datetime.now(UTC), actor(), to, force=force),
    )
    _forced(done.judgement.reasons)
    v = done.version
    out.print(
        f"GUID list version {v.number} in force again (was {done.previous or 'none'}): "
        f"{v.entry_count:,} devices, SHA-256 {v.sha256}",
        highlight=False,
    )


@guid_list_app.command("versions")
def guid_list_versions(database: DatabaseOption = None) -> None:
    """List the GUID list's versions."""
    from poagate.store.database import open_store

    with store_errors(), open_store(database, "read") as store:
        versions = store.reference.guid_list_versions()
        current = store.reference.guid_version()
    table = Table(header_style="bold")
    for column in ("version", "state", "loaded", "entries", "sha256"):
        table.add_column(column)
    for g in versions:
        table.add_row(
            str(g.number),
            "in_force" if current is not None and g.number == current.number else "",
            g.loaded_at.isoformat(timespec="seconds"),
            f"{g.entry_count:,}",
            g.sha256,
        )
    out.print(table)
