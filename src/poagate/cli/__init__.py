"""The ``poagate`` command line (SPEC §8).

Exit status: 0 when the input was processed (rejected lines included), 2 for a usage error or an
unreadable file, 1 for anything else that stopped the work (the message says what). Errors are
one line on standard error; progress bars go to standard error too, results to standard output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from poagate import __version__
from poagate.cli import log, replay, simulation
from poagate.cli.shared import (
    FAILURE,
    DatabaseOption,
    err,
    fail,
    out,
    progress_bars,
)
from poagate.domain.ids import IdentifierError
from poagate.formats.errors import InputError
from poagate.sim.seed import SITE_VISIT_GBP
from poagate.store import StoreError

app = typer.Typer(
    name="poagate",
    help="Suppress firmware-caused Power Outage Alerts (AD1) and keep the Suppression Log "
    "(SEC MP102B).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(log.log_app, name="log")
app.add_typer(simulation.report_app, name="report")
token_app = typer.Typer(help="Bearer tokens for the HTTP API.", no_args_is_help=True)
app.add_typer(token_app, name="token")

app.command()(replay.replay)
app.command()(simulation.simulate)


@app.command()
def demo(
    db: Annotated[
        Path | None,
        typer.Option(help="SQLite database to fill (default: $POAGATE_DATABASE or poagate.db)."),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Directory for the generated input and the outputs.")
    ] = Path("demo-output"),
    esmes: Annotated[int, typer.Option(min=100, help="ESMEs in the simulated fleet.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Seed of the simulation.")] = 1,
) -> None:
    """Simulate a week for a small fleet, run it through the gate, and summarise it per DNO."""
    from poagate.sim.areas import AREAS_BY_ID
    from poagate.sim.demo import default_database, run_demo
    from poagate.sim.fleet import FleetSpec
    from poagate.sim.traffic import TrafficSpec

    scale = esmes / 20_000
    try:
        database = db or default_database()
        with progress_bars() as bars:
            result = run_demo(
                database,
                out_dir,
                FleetSpec(esmes=esmes, seed=seed),
                TrafficSpec(
                    activations=round(6_000 * scale),
                    genuine_ad1=round(3_000 * scale),
                    duis_share=0.1,
                    seed=seed,
                ),
                bars,
            )
    except (StoreError, InputError, OSError) as exc:
        fail(str(exc), FAILURE)

    table = Table(title=f"poagate demo: {esmes:,} ESMEs, one week of traffic", header_style="bold")
    for column, justify in (
        ("DNO", "left"),
        ("area", "left"),
        ("AD1 received", "right"),
        ("suppressed", "right"),
        ("forwarded", "right"),
        (f"site visits avoided (£{SITE_VISIT_GBP})", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    totals = [0, 0]
    for operator, (suppressed, forwarded) in result.by_operator.items():
        area = AREAS_BY_ID.get(operator)
        table.add_row(
            operator or "—",
            area.name if area else "unknown CHF",
            f"{suppressed + forwarded:,}",
            f"{suppressed:,}",
            f"{forwarded:,}",
            f"£{suppressed * SITE_VISIT_GBP:,}",
        )
        totals[0] += suppressed
        totals[1] += forwarded
    table.add_row(
        "all",
        "",
        f"{sum(totals):,}",
        f"{totals[0]:,}",
        f"{totals[1]:,}",
        f"£{totals[0] * SITE_VISIT_GBP:,}",
        style="bold",
    )
    out.print(table)
    summary = result.report.summary
    run = summary["run"]
    out.print(
        f"{summary['events_read']:,} events in {run['seconds']} s "
        f"({run['events_per_second']:,} events/s): {summary['activations']:,} activations "
        f"({summary['activations_eligible']:,} eligible), {summary['ad1_duplicates']:,} duplicate "
        f"AD1s, {summary['events_rejected']:,} malformed lines rejected, "
        f"{summary['messages_ignored']:,} messages ignored.",
        highlight=False,
    )
    out.print(
        f"Ground truth of the simulation: {result.firmware_suppressed:,} firmware-caused AD1s "
        f"suppressed, {result.firmware_forwarded:,} forwarded (meters not eligible: other "
        f"makers, SMETS1, off the GUID list); genuine outages that fell inside a window and "
        f"were suppressed: {result.genuine_suppressed:,} (the SPEC §9 guards address these).",
        highlight=False,
    )
    out.print(
        f"Suppression Log per DNO: {out_dir / 'suppression-log'}/dno-NN.csv "
        f"({len(result.log_files)} files); all outputs: {out_dir / 'replay'}/; "
        f"database: {database}",
        highlight=False,
    )
    out.print(
        f"Export one DNO's log: .venv/bin/poagate log export --db {database} "
        "--network-operator 12 --format csv",
        highlight=False,
    )
    out.print(
        "\nBrowse the demo data over HTTP (OpenAPI at http://127.0.0.1:8000/docs):\n"
        f"  .venv/bin/poagate serve --database {database} &\n"
        f"  TOKEN=$(.venv/bin/poagate token create --database {database} --role dno "
        "--network-operator 12 | tail -1)\n"
        '  curl -s -H "Authorization: Bearer $TOKEN" '
        '"http://127.0.0.1:8000/v1/suppression-log?limit=5"\n'
        '  curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/v1/summary',
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def serve(
    database: DatabaseOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Server processes.")] = 1,
    deliveries: Annotated[
        bool, typer.Option(help="Deliver forwarded AD1s to the DNOs' webhooks.")
    ] = True,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) on the store."""
    import dataclasses
    import os
    import shutil
    import tempfile

    import uvicorn

    from poagate.api.settings import Settings
    from poagate.store.database import default_database, open_store

    # What the environment sets (POAGATE_*: poll intervals, pool sizes), the options over it.
    base = Settings.from_env()
    settings = dataclasses.replace(
        base,
        database=database or base.database or default_database(),
        deliveries=deliveries,
        log_level=log_level.upper(),
    )
    try:
        open_store(settings.database, "service").close()  # create or migrate it, once
    except (StoreError, OSError) as exc:
        fail(str(exc), FAILURE)
    os.environ.update(settings.to_env())
    metrics_dir = None
    if workers > 1:
        metrics_dir = tempfile.mkdtemp(prefix="poagate-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run(
            "poagate.api.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            log_level=log_level,
            access_log=False,
            timeout_graceful_shutdown=30,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="admin, dsp or dno.")],
    network_operator: Annotated[
        list[str] | None,
        typer.Option(help="For a dno token: a network operator id it may read (repeatable)."),
    ] = None,
    description: Annotated[str, typer.Option(help="Who or what the token is for.")] = "",
    database: DatabaseOption = None,
) -> None:
    """Create a bearer token; it is printed once, alone on the last line, and stored only as a
    hash."""
    from datetime import UTC, datetime

    from poagate.api.tokens import checked_operators, new_token, token_sha256
    from poagate.store.database import open_store

    try:
        operators = checked_operators(role, network_operator or [])
    except (ValueError, IdentifierError) as exc:
        fail(str(exc))
    token = new_token()
    try:
        with open_store(database, "service") as store:
            token_id = store.add_token(
                token_sha256(token),
                role,
                operators,
                description,
                datetime.now(UTC),
                "command line",
            )
    except (StoreError, OSError) as exc:
        fail(str(exc), FAILURE)
    scope = f", network operators {', '.join(operators)}" if operators else ""
    err.print(
        f"token {token_id}: role {role}{scope}. Keep it: it is not shown again.", highlight=False
    )
    print(token)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's number (see token list).")],
    database: DatabaseOption = None,
) -> None:
    """Revoke a token: it stops working within two seconds."""
    from datetime import UTC, datetime

    from poagate.store.database import open_store

    try:
        with open_store(database, "service") as store:
            done = store.revoke_token(token_id, datetime.now(UTC), "command line")
    except (StoreError, OSError) as exc:
        fail(str(exc), FAILURE)
    if not done:
        fail(f"there is no token {token_id} that is still valid", FAILURE)
    out.print(f"token {token_id} revoked", highlight=False)


@token_app.command("list")
def token_list(database: DatabaseOption = None) -> None:
    """List tokens (never the tokens themselves: they are not stored)."""
    from poagate.store.database import open_store

    try:
        with open_store(database, "read") as store:
            records = store.tokens()
    except (StoreError, OSError) as exc:
        fail(str(exc), FAILURE)
    table = Table(header_style="bold")
    for column in ("id", "role", "network operators", "description", "created", "revoked"):
        table.add_column(column)
    for r in records:
        table.add_row(
            str(r.id),
            r.role,
            ", ".join(sorted(r.network_operators)),
            r.description,
            r.created_at.isoformat(timespec="seconds"),
            "" if r.revoked_at is None else r.revoked_at.isoformat(timespec="seconds"),
        )
    out.print(table)


@app.command()
def version() -> None:
    """Print poagate's version."""
    out.print(__version__)


def main() -> None:
    app()
