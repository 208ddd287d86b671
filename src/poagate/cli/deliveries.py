"""``poagate deliveries retry``: send dead deliveries again, every one of a DNO or of a time
range (spec §18), as ``POST /v1/deliveries/retry`` does (``poagate.service.deliveries``), on the
store directly, with or without a server running, audited with the actor
``command line (<user>)``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from poagate.cli.controls import now
from poagate.cli.shared import DatabaseOption, actor, fail, out, store_errors

deliveries_app = typer.Typer(help="Deliveries to the DNOs' webhooks.", no_args_is_help=True)


@deliveries_app.command("retry")
def retry(
    network_operator: Annotated[
        str | None, typer.Option(help="Only this DNO's dead deliveries (two digits).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--from", help="Only those queued at or after this time.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Only those queued before this time.")
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Send dead deliveries again (all of them, unless a DNO or a time range is given): each is
    retried from now for delivery.retry_for_hours again, each hub's in order."""
    from poagate.service.deliveries import retry_dead
    from poagate.store.database import open_store

    try:
        with store_errors(), open_store(database, "service") as store:
            retried = retry_dead(store, network_operator, since, until, now(), actor())
    except ValueError as exc:
        fail(str(exc))
    out.print(f"{retried:,} dead deliveries will be sent again", highlight=False)
