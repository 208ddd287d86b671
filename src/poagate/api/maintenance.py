"""The hourly maintenance pass of ``poagate serve`` (spec §15): every server process looks every
``maintenance_seconds`` whether a pass is due — none ended within that interval, by any process
of any server — and if so makes one (``poagate.service.maintenance.maintain``), on a connection
and a thread of its own: its batches are short write transactions that take their turn with the
decisions, so intake goes on. The lease in the store keeps it to one process at a time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from poagate.api.context import AppContext
from poagate.api.observability.counters import observe_maintenance
from poagate.service.maintenance import LeaseLostError, MaintenancePass, due, maintain
from poagate.store.database import open_store
from poagate.store.writer_lock import writer_work

log = logging.getLogger("poagate.maintenance")


def maintenance_pass(
    database: str, clock: Callable[[], datetime], every: timedelta
) -> MaintenancePass | None:
    """A pass when one is due (None when not), on a connection of its own."""
    with writer_work("maintenance"), open_store(database, "service") as store:
        now = clock()
        if not due(store, now, every):
            return None
        return maintain(store, now)


async def run_maintenance(context: AppContext) -> None:
    """See the module docstring."""
    options = context.options
    every = timedelta(seconds=options.maintenance_seconds)
    while True:
        await asyncio.sleep(options.maintenance_seconds)
        try:
            done = await asyncio.to_thread(maintenance_pass, options.database, options.clock, every)
        except LeaseLostError as lost:  # another process's pass goes on: not a failure of ours
            log.warning("%s", lost)
            continue
        except Exception:
            log.exception("the maintenance pass failed; it runs again")
            continue
        if done is not None and done.ran:
            observe_maintenance(done)
            log.info(
                "maintenance purged %d rows (%s) in %.1f s (%.1f s of it holding the writer; "
                "%d rests made longer for other writers), gave back space in %.1f s; the store "
                "is %d bytes",
                sum(done.purged.values()),
                ", ".join(f"{kind} {n}" for kind, n in done.purged.items() if n),
                done.purge_seconds,
                done.purge_held_seconds,
                done.purge_yields,
                done.space_seconds,
                done.size_after,
            )
