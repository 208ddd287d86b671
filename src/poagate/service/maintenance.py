"""The maintenance pass (spec §15): purge what is past its retention, give the space back, and
say what went — the one act behind ``poagate maintenance run`` and the hourly pass of
``poagate serve``.

* One process at a time across every server of a database: a pass first takes the store's
  maintenance lease (``LEASE``: a pass that dies leaves it to lapse), and a pass that finds it
  held by another does nothing. A pass renews its lease between its steps every quarter of
  ``LEASE`` (``LeaseKeeper``): one that yields to decisions for hours keeps it, and one whose
  lease was taken over meanwhile (its process stalled past the lease) stops at its next step
  (``LeaseLostError``) rather than purge beside the other. ``due`` tells a
  server's hourly task whether the last pass (by any process) is older than its interval, so
  several servers make one pass an interval between them.
* It never blocks intake: the purge is batches of a few thousand rows, each its own short write
  transaction (``poagate.store.purge``), on a connection of its own; decisions take their turn
  between batches. SQLite then returns the freed pages to the file system
  (``PRAGMA incremental_vacuum``, on stores created with incremental auto-vacuum).
* Each pass (not a dry run) is one audit entry, actor ``maintenance``, action
  ``maintenance.run``, with the counts per kind.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from poagate.domain.values import value
from poagate.service.retention import cutoffs
from poagate.store.pacing import Held
from poagate.store.ports import Maintaining

ACTOR = "maintenance"
ACTION = "maintenance.run"
LEASE = timedelta(hours=1)  # a pass that dies holds off others this long at most


@value
class MaintenancePass:
    """What one pass did (or, ``dry_run``, would do)."""

    at: datetime
    dry_run: bool
    ran: bool  # False when another process held the lease
    purged: dict[str, int]  # rows by kind (reference data: versions)
    size_before: int  # bytes on disk
    size_after: int
    pages_freed: int  # SQLite: free pages given back to the file system
    purge_seconds: float = 0.0  # deleting what is past its retention
    purge_held_seconds: float = 0.0  # of which its steps held the writer (the rest: rests)
    purge_yields: int = 0  # rests made longer because decisions were being written meanwhile
    space_seconds: float = 0.0  # giving the space back (SQLite: pages; PostgreSQL: VACUUM)


class LeaseLostError(RuntimeError):
    """Another process took the maintenance lease while this pass was under way."""


class LeaseKeeper:
    """Renews a pass's lease, taken at ``now``, for ``lasting`` from the moment it is renewed,
    once a quarter of ``lasting`` has passed since the last time (``keep``, called between
    the pass's steps; ``monotonic`` measures the time the pass has taken)."""

    def __init__(
        self,
        store: Maintaining,
        owner: str,
        now: datetime,
        lasting: timedelta,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store, self._owner, self._now, self._lasting = store, owner, now, lasting
        self._monotonic = monotonic
        self._began = self._renewed = monotonic()
        self.renewals = 0

    def keep(self) -> None:
        """Renew the lease if a quarter of it has passed; ``LeaseLostError`` if another holds it."""
        now = self._monotonic()
        if now - self._renewed < self._lasting.total_seconds() / 4:
            return
        at = self._now + timedelta(seconds=now - self._began)
        if not self._store.take_maintenance_lease(self._owner, at, self._lasting):
            raise LeaseLostError(
                f"the maintenance lease of {self._owner} lapsed and another process took it "
                "(this pass stalled longer than the lease): this pass stops, the other goes on"
            )
        self._renewed = now
        self.renewals += 1


def owner() -> str:
    """This process as the store names it, its machine and pid: who holds the maintenance
    lease, and whose verification pass was the last (``service.verifications``)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def due(store: Maintaining, now: datetime, every: timedelta) -> bool:
    """Whether a pass is due: none ever ended, or the last ended ``every`` ago or more."""
    last = store.last_maintenance()
    return last is None or now - last >= every


def maintain(
    store: Maintaining, now: datetime, dry_run: bool = False, lease: timedelta = LEASE
) -> MaintenancePass:
    """One pass at ``now`` (see the module docstring), holding the lease ``lease`` at a time."""
    settings = store.reference.settings()
    size_before = store.size_bytes()
    if dry_run:
        purged = store.purge_expired(cutoffs(settings, now), dry_run=True)
        return MaintenancePass(now, True, True, purged, size_before, size_before, 0)
    me = owner()
    if not store.take_maintenance_lease(me, now, lease):
        return MaintenancePass(now, False, False, {}, size_before, size_before, 0)
    ended = False
    try:
        keeper = LeaseKeeper(store, me, now, lease)
        held = Held(between=keeper.keep)
        began = time.perf_counter()
        purged = store.purge_expired(cutoffs(settings, now), held=held)
        purging = time.perf_counter()
        keeper.keep()  # before giving back space: PostgreSQL's VACUUM is one long statement
        freed = store.give_back_space()
        giving_back = time.perf_counter()
        size_after = store.size_bytes()
        with store.transaction():
            store.audit.record(
                now,
                ACTOR,
                ACTION,
                {"purged": purged, "size_before": size_before, "size_after": size_after},
            )
        ended = True
    finally:
        store.end_maintenance_lease(me, now, ended)
    return MaintenancePass(
        now,
        False,
        True,
        purged,
        size_before,
        size_after,
        freed,
        purge_seconds=purging - began,
        purge_held_seconds=held.seconds,
        purge_yields=held.yields,
        space_seconds=giving_back - purging,
    )
