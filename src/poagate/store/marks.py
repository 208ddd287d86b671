"""Marks of what a group of decisions reads, so that it can read ahead of the writers' lock.

Writers are serialised (``poagate.store.sqlbase``): a server's group of messages holds the
writers' lock from its first read to its commit, and every other server's group waits. So that
the lock is held for less, a group reads ahead, outside any transaction: first the ``Marks``,
then the configuration, the GUID list, the fleet, the activations of its hubs, requests and
devices, and which of its alert_ids are decided. Under the lock it reads the marks again (one
statement). A reference mark that moved means something it read may have changed since: it
reads everything again under the lock; an activations mark that moved, the activations.
Decisions always move on, so for them it reads only the alert_ids decided after ``last_seq``
(``decided_since``). What it decides from is therefore exactly what it would have read under
the lock.

This holds because every change these marks follow is made under the writers' lock and moves
its mark in the same transaction, by this release's code or an older one's: a new
configuration is a new ``config_versions`` row; an inventory switch or change file moves
``inventory_generation``; a GUID list version is put in force by ``guid_list_in_force`` or by
being the latest (a rollback and its undoing could bring both back where they were, so a group
with activations, the only events the GUID list decides, reads its devices' entries under the
lock); a trigger moves ``activations_changes`` with every write to the activations
(migration 0011); and every AD1 outcome takes the next ``seq`` under the lock and commits
before the lock is released, so the outcomes a statement sees are always those up to some
``seq``. (A maintenance pass deleting an old outcome between the two reads makes no
difference: the group then decides as if it had run before the purge.)
"""

from __future__ import annotations

from dataclasses import dataclass

from poagate.store import StoreError
from poagate.store.reference.fleet_reads import GENERATION_META
from poagate.store.reference.guid_list import GUID_IN_FORCE_META
from poagate.store.schema import FEED_ROWS
from poagate.store.sqlbase import Database

# Moved on by the database itself, by a trigger on ``activations`` (migration 0011), in every
# transaction that inserts, updates or deletes one (PostgreSQL: once; SQLite: once a row).
ACTIVATIONS_MARK = "activations_changes"
ACTIVATIONS_FUNCTION = "poagate_activations_changed"  # PostgreSQL's trigger function

MARKS = (
    "SELECT (SELECT COALESCE(MAX(id), 0) FROM config_versions), "
    f"(SELECT value FROM meta WHERE key = '{GENERATION_META}'), "
    f"(SELECT value FROM meta WHERE key = '{GUID_IN_FORCE_META}'), "
    "(SELECT COALESCE(MAX(number), 0) FROM guid_list_versions), "
    f"(SELECT value FROM meta WHERE key = '{ACTIVATIONS_MARK}'), "
    "(SELECT COALESCE(MAX(seq), 0) FROM ad1_outcomes), "
    f"(SELECT COALESCE(MAX(feed_seq), 0) FROM ad1_outcomes WHERE {FEED_ROWS})"
)


@dataclass(frozen=True, slots=True)
class Marks:
    """Where the state a group reads stood (see the module docstring)."""

    config: int  # the latest configuration version
    inventory: int  # the inventory's generation
    guid_list: tuple[str, int]  # the version named in force, and the latest
    activations: int  # changes to the activations (ACTIVATIONS_MARK)
    last_seq: int  # the last AD1 decided
    last_feed_seq: int  # the last place in the feeds (a release takes one too)

    @property
    def next_seq(self) -> int:
        """Where numbering goes on (``DecidedAlerts.next_seq``): exact under the lock."""
        return max(self.last_seq, self.last_feed_seq) + 1

    def same_reference(self, other: Marks) -> bool:
        """Whether the configuration, the inventory and the GUID list are as they were."""
        return (self.config, self.inventory, self.guid_list) == (
            other.config,
            other.inventory,
            other.guid_list,
        )


def read_marks(db: Database) -> Marks:
    row = db.one(MARKS)
    assert row is not None  # a SELECT of subqueries always gives one row
    if row[4] is None:
        raise StoreError(
            f"the store has no meta {ACTIVATIONS_MARK} (revision 0011 keeps it): run "
            "poagate db upgrade, and never delete it"
        )
    return Marks(
        int(row[0]),
        int(row[1] or 0),
        (str(row[2] or ""), int(row[3])),
        int(row[4]),
        int(row[5]),
        int(row[6]),
    )
