"""The ``poagate`` command line (spec §8).

Exit status: 0 when the input was processed (rejected lines included), 2 for a usage error or an
unreadable file, 1 for anything else that stopped the work (the message says what). Errors are
one line on standard error; progress bars go to standard error too, results to standard output.

A module per command or group, each importing what it shares from ``shared``; this module only
puts them together. The commands import their heavy parts (the store's engines, FastAPI, uvicorn,
matplotlib) when they run, so ``poagate --help`` stays quick.
"""

from __future__ import annotations

from typing import Annotated

import typer

from poagate.cli import (
    audit,
    backup,
    configuration,
    controls,
    db,
    deliveries,
    demo,
    inventory,
    log,
    maintenance,
    replay,
    serve,
    simulation,
    tokens,
    version,
)

app = typer.Typer(
    name="poagate",
    help="Suppress firmware-caused Power Outage Alerts (AD1) and keep the Suppression Log "
    "(SEC MP102B).",
    no_args_is_help=True,
    # --install-completion and --show-completion (bash, zsh, fish, PowerShell).
    add_completion=True,
    pretty_exceptions_enable=False,
)
# --help lists them in this order, the commands before the groups.
app.command()(replay.replay)
app.command()(simulation.simulate)
app.command()(demo.demo)
app.command()(serve.serve)
app.command()(version.version)
app.command()(backup.backup)
app.command()(backup.restore)
app.command()(controls.suspend)
app.command()(controls.resume)
app.command()(controls.release)
app.command()(audit.audit)
app.add_typer(controls.window_app, name="window")
app.add_typer(controls.alert_app, name="alert")
app.add_typer(inventory.inventory_app, name="inventory")
app.add_typer(inventory.guid_list_app, name="guid-list")
app.add_typer(log.log_app, name="log")
app.add_typer(maintenance.maintenance_app, name="maintenance")
app.add_typer(simulation.report_app, name="report")
app.add_typer(tokens.token_app, name="token")
app.add_typer(configuration.config_app, name="config")
app.add_typer(deliveries.deliveries_app, name="deliveries")
app.add_typer(db.db_app, name="db")


@app.callback()
def options(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=version.print_version,
            is_eager=True,
            help="Print poagate's version and exit.",
        ),
    ] = False,
) -> None:
    """Suppress firmware-caused Power Outage Alerts (AD1) and keep the Suppression Log
    (SEC MP102B)."""


def main() -> None:
    app()
