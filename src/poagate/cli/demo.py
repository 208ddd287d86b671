"""``poagate demo``: a simulated week for a small fleet through the gate, summarised per DNO."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from poagate.cli.shared import out, progress_bars, store_errors
from poagate.formats.errors import InputError
from poagate.sim.measures import SITE_VISIT_GBP


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
    with store_errors(InputError):
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
        f"were suppressed: {result.genuine_suppressed:,} (the guards address these).",
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
    out.print(
        "\nOpen the console on the demo data (docs/console.md), with that server running:\n"
        f"  .venv/bin/poagate token create --database {database} --role dno "
        "--network-operator 12   # a DNO's token: the last line\n"
        f"  .venv/bin/poagate token create --database {database} --role admin   "
        "# DCC operations' token\n"
        "  then open http://127.0.0.1:8000/ui/ and sign in with one of the tokens.",
        highlight=False,
        soft_wrap=True,
    )
