"""``poagate simulate`` and ``poagate report business-case``: simulated months through the gate
with the guards off and on, and the business case drawn from the seed's figures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from poagate.cli.shared import (
    AreaOutageSeconds,
    ConfigFile,
    VerifyAttempts,
    VerifyTimeoutMinutes,
    err,
    fail,
    gate_settings,
    out,
    readable_file,
    rich_progress,
    store_errors,
)
from poagate.formats.errors import InputError
from poagate.sim.measures import AD1_PER_MONTH, ONE_OFF_GBP, SITE_VISIT_GBP, SUPPORT_PER_MONTH_GBP

report_app = typer.Typer(help="Reports for the SEC working group.", no_args_is_help=True)


def simulate(
    scenario: Annotated[
        list[str] | None,
        typer.Option(help="normal, storm or bricking; repeat for several (default: all three)."),
    ] = None,
    esmes: Annotated[int, typer.Option(min=200, help="ESMEs in the simulated fleet.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same month.")] = 1,
    release_after_minutes: Annotated[
        int | None, typer.Option(min=1, help="release-if-dark's M when it is on (60).")
    ] = None,
    area_outage_threshold: Annotated[
        int | None, typer.Option(min=1, help="area-outage's threshold when it is on (3).")
    ] = None,
    area_outage_seconds: AreaOutageSeconds = None,
    verify_after_minutes: Annotated[
        int | None, typer.Option(min=1, help="The verification guard's V when it is on (10).")
    ] = None,
    verify_timeout_minutes: VerifyTimeoutMinutes = None,
    verify_attempts: VerifyAttempts = None,
    config_file: ConfigFile = None,
    sweep: Annotated[
        bool,
        typer.Option(
            "--sweep",
            help="Also replay each month with the verification guard over a range of V, T and "
            "A, and chart savings kept against worst delay (about 20 minutes).",
        ),
    ] = False,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Directory for the months, stores and results.")
    ] = Path("sim-output"),
) -> None:
    """Simulate months of traffic with ground truth, replay each through the real gate with the
    guards off, each on, both guards on, the verification guard on, and the
    recommended configuration, and measure what is suppressed, hidden and delayed."""
    import dataclasses

    import orjson

    from poagate.sim.scenarios import (
        GUARD_SETTING_NAMES,
        GUARD_TABLE_COLUMNS,
        guard_setting_list,
        guard_table_rows,
        guard_tables_markdown,
        run_all,
        scenarios,
    )

    known = scenarios(esmes, seed)
    chosen = scenario or list(known)
    for name in chosen:
        if name not in known:
            fail(f"--scenario {name}: unknown; choose from {', '.join(known)}")
    given = gate_settings(
        config_file,
        release_after_minutes=release_after_minutes,
        area_outage_threshold=area_outage_threshold,
        area_outage_seconds=area_outage_seconds,
        verify_after_minutes=verify_after_minutes,
        verify_timeout_minutes=verify_timeout_minutes,
        verify_attempts=verify_attempts,
    )
    # The values the guards take where they are on; 0 in a configuration file (off) leaves
    # the default, since every guard is also shown off.
    settings = guard_setting_list(
        **{k: v for k, v in given.items() if k in GUARD_SETTING_NAMES and v}
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    total = len(chosen) * len(settings)
    with rich_progress() as progress:
        task = progress.add_task("Simulating", total=total)

        def done(m: Any) -> None:
            progress.update(task, advance=1, description=f"{m.scenario}: guards {m.guards} done")

        with store_errors(InputError):
            results = run_all([known[n] for n in chosen], settings, out_dir, done=done)
    titles = {name: known[name].title for name in chosen}
    for name in chosen:
        table = Table(title=titles[name], header_style="bold")
        for column in GUARD_TABLE_COLUMNS:
            if column == "guards":
                table.add_column(column, justify="left", no_wrap=True)
            else:
                table.add_column(column, justify="right")
        for row in guard_table_rows(m for m in results if m.scenario == name):
            table.add_row(*row)
        out.print(table)
    (out_dir / "simulation.json").write_bytes(
        orjson.dumps(
            {
                "esmes": esmes,
                "seed": seed,
                "guard_settings": [dataclasses.asdict(s) for s in settings],
                "results": [m.as_dict() for m in results],
            },
            option=orjson.OPT_INDENT_2,
        )
    )
    (out_dir / "guards.md").write_text(guard_tables_markdown(results, titles))
    if sweep:
        run_sweep([known[n] for n in chosen], out_dir)
    out.print(
        f"Spurious = firmware-caused AD1s; genuine = real outages, storms and bricked meters. "
        f"Figures: {out_dir / 'simulation.json'}; tables: {out_dir / 'guards.md'}",
        highlight=False,
    )


@report_app.command("business-case")
def business_case(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Directory for the HTML report and its PNG charts.")
    ] = Path("business-case"),
    simulation: Annotated[
        Path | None,
        typer.Option(help="simulation.json of poagate simulate: adds what the guards cost."),
    ] = None,
    ad1_per_month: Annotated[int, typer.Option(min=0)] = AD1_PER_MONTH,
    site_visit: Annotated[int, typer.Option(min=0, help="£ a site visit.")] = SITE_VISIT_GBP,
    one_off: Annotated[int, typer.Option(min=0, help="£ DCC implementation.")] = ONE_OFF_GBP,
    support_per_month: Annotated[
        int, typer.Option(min=0, help="£ a month.")
    ] = SUPPORT_PER_MONTH_GBP,
) -> None:
    """The seed's monthly figure from its inputs, how it moves with campaign size and reboot
    share, and its payback against the DCC's costs: PNG charts and one offline HTML file."""
    import orjson

    from poagate.sim.business_case import Inputs, write_report

    data = None
    if simulation is not None:
        readable_file(simulation, "simulation")
        try:
            data = orjson.loads(simulation.read_bytes())
            data["results"]  # check the shape before using it
        except (orjson.JSONDecodeError, KeyError, TypeError):
            fail(f"--simulation {simulation}: not a simulation.json written by poagate simulate")
    inputs = Inputs(ad1_per_month, site_visit, one_off, support_per_month)
    with err.status("Drawing the charts"):
        report = write_report(out_dir, inputs, data)
    base = report.base
    out.print(
        f"{ad1_per_month:,} firmware-caused AD1s a month × £{site_visit} = "
        f"£{base.saving_per_month_gbp:,.0f} a month; net of £{support_per_month:,} support "
        f"£{base.net_per_month_gbp:,.0f}; the one-off £{one_off:,} pays back in "
        + (
            "never"
            if base.payback_days is None
            else f"{base.payback_days:.1f} days ({base.payback_months:.3f} months)"
        ),
        highlight=False,
    )
    for name, share in report.retention.items():
        out.print(
            f"  guards {name}: keeps {share:.1%} of the suppressions, "
            f"£{base.saving_per_month_gbp * share:,.0f} a month",
            highlight=False,
        )
    out.print(f"Report: {report.html} (opens offline); charts: {len(report.charts)} PNG files")


def run_sweep(chosen: list[Any], out_dir: Path) -> None:
    """``--sweep``: the verification guard over its grid; ``sweep.json``, ``sweep.md`` and the
    chart ``verification-sweep.png`` in ``out_dir``."""
    import orjson

    from poagate.sim.scenarios import RECOMMENDED
    from poagate.sim.sweep import draw_sweep, sweep, sweep_markdown, sweep_records

    with rich_progress() as progress:
        task = progress.add_task("Sweeping V, T and A", total=None)
        with store_errors(InputError):
            points = sweep(
                chosen,
                out_dir / "sweep",
                done=lambda what: progress.update(task, advance=1, description=what),
            )
    (out_dir / "sweep.json").write_bytes(
        orjson.dumps(sweep_records(points), option=orjson.OPT_INDENT_2)
    )
    (out_dir / "sweep.md").write_text(sweep_markdown(points))
    best = (RECOMMENDED.verify_after_minutes or 0, RECOMMENDED.verify_timeout_minutes,
            RECOMMENDED.verify_attempts)  # fmt: skip
    draw_sweep(points, out_dir / "verification-sweep.png", best)
    out.print(
        f"Sweep of {len(points)} settings: {out_dir / 'sweep.md'}, "
        f"chart {out_dir / 'verification-sweep.png'}",
        highlight=False,
    )
