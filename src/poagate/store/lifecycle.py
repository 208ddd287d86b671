"""One maintenance pass over the store (spec §15): every concept's purge, kind by kind, with the
cut-offs the service worked out from the retention in force (``Cutoffs``), and a lease so that
one process at a time runs it across every server of one database.

The concepts say what they purge and what they never purge (``purges()`` in each of their
modules, and the few that purge by a statement of their own: rejected input, console sessions,
reference-data versions); ``poagate.store.purge`` does it in bounded batches. The lease is a row
of ``meta`` written in a serialised write transaction, so it works alike on SQLite and PostgreSQL
whatever the number of servers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from poagate.domain.values import value
from poagate.formats.timestamps import to_us
from poagate.store import access, activations, inputs, outbox, signs, verifications
from poagate.store.access import ConsoleSessions
from poagate.store.alerts import purges as alert_purges
from poagate.store.inputs import Inputs
from poagate.store.pacing import Held
from poagate.store.purge import purge
from poagate.store.reference import ReferenceData
from poagate.store.reference.fleet import FleetStore
from poagate.store.sqlbase import UPSERT_META, Database

# The kinds of spec §15, in the order a pass reports them.
KINDS = (
    "suppression_log",
    "forwarded",
    "activations",
    "signs_of_life",
    "deliveries",
    "inputs",
    "audit",
    "sessions",
    "reference_versions",
)
SESSIONS_KEPT = timedelta(days=1)  # an ended console session (spec §15: fixed)
SESSION_IDLE = timedelta(hours=8)  # a session unused this long has ended (spec §13)
LEASE_META = "maintenance_lease"  # "<owner> <until, µs>"
LAST_RUN_META = "maintenance_last_run"  # when the last pass ended (µs)


@value
class Cutoffs:
    """What a pass purges: rows of each kind older than ``before[kind]``, reference-data
    versions beyond the one in force and ``versions_kept``; ``guards_from`` is the earliest
    ``event_at`` a guard in force may still act on."""

    now: datetime
    guards_from: datetime
    before: dict[str, datetime]
    versions_kept: int


@value
class Concepts:
    """The concepts that purge by statements of their own."""

    inputs: Inputs
    sessions: ConsoleSessions
    reference: ReferenceData
    fleet: FleetStore


def purge_expired(
    db: Database,
    concepts: Concepts,
    cutoffs: Cutoffs,
    dry_run: bool = False,
    held: Held | None = None,
) -> dict[str, int]:
    """Purge (or with ``dry_run`` count) what is past its retention; rows (for reference data:
    versions) by kind, every kind of ``KINDS`` named. How long the time-ordered kinds' steps
    held the writer is added to ``held``."""
    store = concepts
    now, guards_from = to_us(cutoffs.now), to_us(cutoffs.guards_from)
    counts = dict.fromkeys(KINDS, 0)
    kinds = (
        *alert_purges.purges(now, guards_from),
        *activations.purges(now, guards_from),
        *signs.purges(),
        *outbox.purges(),
        *verifications.purges(),
        *inputs.purges(),
        *access.purges(),
    )
    for kind in kinds:
        counts[kind.kind] += purge(db, kind, to_us(cutoffs.before[kind.kind]), dry_run, held)
    counts["inputs"] += store.inputs.purge_rejected(now, to_us(cutoffs.before["inputs"]), dry_run)
    counts["sessions"] += store.sessions.purge(
        to_us(cutoffs.now - SESSIONS_KEPT),
        to_us(cutoffs.now - SESSIONS_KEPT - SESSION_IDLE),
        dry_run,
    )
    kept = cutoffs.versions_kept
    counts["reference_versions"] += (
        store.reference.purge_settings_versions(kept, dry_run)
        + store.reference.purge_guid_list_versions(kept, dry_run)
        + store.fleet.purge_versions(kept, dry_run)
    )
    return counts


def take_lease(db: Database, owner: str, now: datetime, lasting: timedelta) -> bool:
    """Take (or renew) the maintenance lease for ``owner`` until ``now + lasting``; False when
    another owner holds it still."""
    with db.transaction():
        held = db.meta(LEASE_META)
        if held:
            holder, until = held.rsplit(" ", 1)
            if holder != owner and int(until) > to_us(now):
                return False
        db.run(UPSERT_META, (LEASE_META, f"{owner} {to_us(now + lasting)}"))
    return True


def end_lease(db: Database, owner: str, now: datetime, ended: bool) -> None:
    """Give the lease back, and record when the pass ended (when it did: ``ended``)."""
    with db.transaction():
        held = db.meta(LEASE_META)
        if held and held.rsplit(" ", 1)[0] == owner:
            db.run(UPSERT_META, (LEASE_META, f"{owner} 0"))
        if ended:
            db.run(UPSERT_META, (LAST_RUN_META, str(to_us(now))))


def last_run(db: Database) -> int | None:
    """When the last pass ended (µs), if one ever did."""
    value = db.meta(LAST_RUN_META)
    return None if value is None else int(value)
