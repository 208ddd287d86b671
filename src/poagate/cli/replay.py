"""``poagate replay``: JSON Lines events through the gate, the outcomes to files (spec §8)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from poagate.cli.shared import (
    AreaOutageSeconds,
    ConfigFile,
    VerifyAfterMinutes,
    VerifyAttempts,
    VerifyTimeoutMinutes,
    err,
    fail,
    gate_settings,
    out,
    progress_bars,
    readable_file,
    store_errors,
)
from poagate.formats.errors import InputError


def split_manufacturers(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(m.strip() for m in text.split(",") if m.strip())
    if not names:
        fail("--manufacturers needs at least one manufacturer identifier")
    return names


def replay(
    events: Annotated[
        list[Path], typer.Argument(help="JSON Lines event files, read in received_at order.")
    ],
    guid_list: Annotated[Path, typer.Option(help="GUID list: one Device ID per line.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the output files.")],
    inventory: Annotated[
        Path | None,
        typer.Option(
            help="Inventory CSV. Leave out to use the inventory --db holds; a file "
            "whose SHA-256 is the version in force is not loaded again."
        ),
    ] = None,
    manufacturers: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated manufacturers subject to suppression (replaces the "
            "configured list)."
        ),
    ] = None,
    window_minutes: Annotated[
        int | None, typer.Option(min=1, help="Window length W in minutes (default 30).")
    ] = None,
    skew_tolerance_seconds: Annotated[
        int | None,
        typer.Option(min=0, help="How far before a window's start an outage may lie (default 0)."),
    ] = None,
    release_after_minutes: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="release-if-dark: release a suppressed AD1 whose site shows no sign of "
            "life this many minutes after the outage (0: off; default off).",
        ),
    ] = None,
    area_outage_threshold: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="area-outage: forward an AD1 when this many AD1s of other hubs in its "
            "postcode sector were forwarded (0: off; default off).",
        ),
    ] = None,
    area_outage_seconds: AreaOutageSeconds = None,
    verify_after_minutes: VerifyAfterMinutes = None,
    verify_timeout_minutes: VerifyTimeoutMinutes = None,
    verify_attempts: VerifyAttempts = None,
    config_file: ConfigFile = None,
    db: Annotated[
        Path | None,
        typer.Option(
            help="SQLite database; re-running with the same one resumes. Default: OUT/poagate.db."
        ),
    ] = None,
    batch_size: Annotated[
        int,
        typer.Option(
            min=1,
            help="Events committed per transaction: a crash loses at most the batches in hand, "
            "which the next run redoes.",
        ),
    ] = 50_000,
) -> None:
    """Replay JSON Lines events through the gate and write the outcomes."""
    from poagate.service.replay import ReplayRequest
    from poagate.service.replay import replay as run_replay
    from poagate.store.sqlite import SqliteStore

    if inventory is not None:
        readable_file(inventory, "inventory")
    readable_file(guid_list, "GUID list")
    for path in events:
        readable_file(path, "events file")
    if out_dir.exists() and not out_dir.is_dir():
        fail(f"--out {out_dir} exists and is not a directory")
    settings = gate_settings(
        config_file,
        manufacturers=split_manufacturers(manufacturers),
        window_minutes=window_minutes,
        skew_tolerance_seconds=skew_tolerance_seconds,
        release_after_minutes=release_after_minutes,
        area_outage_threshold=area_outage_threshold,
        area_outage_seconds=area_outage_seconds,
        verify_after_minutes=verify_after_minutes,
        verify_timeout_minutes=verify_timeout_minutes,
        verify_attempts=verify_attempts,
    )
    request = ReplayRequest(
        inventory=inventory,
        guid_list=guid_list,
        events=list(events),
        out=out_dir,
        batch_size=batch_size,
        **settings,
    )
    if db is None:  # the store of a replay without --db is one of its outputs, in --out
        with store_errors():
            out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with (
            store_errors(),
            SqliteStore(db or out_dir / "poagate.db", schema="create") as store,
            progress_bars() as bars,
        ):
            report = run_replay(store, request, bars)
    except InputError as exc:
        fail(str(exc))
    for warning in report.warnings:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False)
    print_summary(report.summary, out_dir)


def print_summary(summary: dict[str, object], out_dir: Path) -> None:
    table = Table(title="poagate replay", show_header=True, header_style="bold")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key in (
        "events_read",
        "events_rejected",
        "activations",
        "activations_eligible",
        "ad1_received",
        "ad1_suppressed",
        "ad1_forwarded",
        "ad1_duplicates",
        "ad1_released",
    ):
        table.add_row(key, f"{summary[key]:,}")
    run = summary["run"]
    assert isinstance(run, dict)
    out.print(table)
    out.print(
        f"This run: {run['events_processed']:,} events in {run['seconds']} s "
        f"({run['events_already_applied']:,} already applied before). Outputs in {out_dir}/",
        highlight=False,
    )
