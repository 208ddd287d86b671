"""One store: a database and the concepts kept in it, each owning its tables and their SQL.

* ``alerts`` and ``listings`` — the Suppression Log and the forwarded AD1s (``alerts/``:
  ``ad1_outcomes``, ``ad1_duplicates``), as the decision path and the guards use them and as
  readers list them;
* ``activations`` — activations and their windows (``activations.py``);
* ``signs`` — signs of life (``signs.py``: ``device_messages``, ``activation_outcomes``);
* ``outbox`` — messages on their way to the DNOs' webhooks (``outbox.py``);
* ``verifications`` — the verification guard's requests (``verifications.py``);
* ``inputs`` — input files, ignored and rejected input (``inputs.py``);
* ``reference`` and ``fleet`` — the configuration, the GUID list and the inventory
  (``reference/``);
* ``tokens``, ``sessions`` and ``audit`` — access (``access.py``).

``decisions`` writes a batch of decisions across them, and ``deciding()`` is the service's unit
of work (``unit.py``). Each concept sees only the database (``sqlbase.Database``); ``TABLES``
says which concept owns each table and what its rows age by. A consumer is typed against the
narrow protocol of what it uses (``ports.py``). ``SqliteStore`` and ``PostgresStore`` open one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta

from poagate.formats.timestamps import from_us
from poagate.store import (
    access,
    activations,
    alerts,
    inputs,
    lifecycle,
    outbox,
    signs,
    verifications,
)
from poagate.store.access import Audit, ConsoleSessions, Tokens
from poagate.store.activations import Activations
from poagate.store.alerts.decided import DecidedAlerts
from poagate.store.alerts.listings import Listings
from poagate.store.inputs import Inputs
from poagate.store.outbox import Outbox
from poagate.store.pacing import Held
from poagate.store.reference import ReferenceData, config, fleet, guid_list
from poagate.store.reference.fleet import FleetStore
from poagate.store.signs import SignsOfLife
from poagate.store.sqlbase import Database, Kept
from poagate.store.unit import Decisions, DecisionUnit, GroupReader
from poagate.store.verifications import Verifications

# Every table and the concept that owns it (``meta`` is the database's own).
TABLES: tuple[Kept, ...] = (
    *alerts.TABLES,
    *activations.TABLES,
    *signs.TABLES,
    *outbox.TABLES,
    *verifications.TABLES,
    *inputs.TABLES,
    *config.TABLES,
    *guid_list.TABLES,
    *fleet.TABLES,
    *access.TABLES,
)


class Store:
    """See the module docstring."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.reference = ReferenceData(db)
        self.fleet = FleetStore(db)
        self.alerts = DecidedAlerts(db)
        self.listings = Listings(db)
        self.activations = Activations(db)
        self.signs = SignsOfLife(db)
        self.inputs = Inputs(db)
        self.verifications = Verifications(db)
        self.audit = Audit(db)
        self.tokens = Tokens(db, self.audit)
        self.sessions = ConsoleSessions(db)
        self.outbox = Outbox(db, self.audit)
        self.decisions = Decisions(db, self.alerts)

    @contextmanager
    def deciding(self) -> Iterator[DecisionUnit]:
        """A unit of work of the decision path in one write transaction (or in the one already
        open): what it collects is written when the block ends, and nothing of it if the block
        raises."""
        with self.db.transaction():
            unit = DecisionUnit(
                self.db,
                self.decisions,
                self.reference,
                self.fleet,
                self.alerts,
                self.activations,
                self.signs,
                self.verifications,
                self.outbox,
            )
            yield unit
            unit.flush()

    def read_ahead(self) -> GroupReader:
        """A group's reads outside any transaction, ahead of the writers' lock
        (``poagate.store.marks``)."""
        return GroupReader(self.db, self.reference, self.fleet, self.alerts, self.activations)

    def counts(self) -> dict[str, int]:
        """The figures of ``summary.json``, over everything the store holds (in the order the
        summary has always listed them: what was read first, what was not used last)."""
        inputs = self.inputs.counts()
        read = {key: inputs.pop(key) for key in ("events_read", "events_rejected")}
        return {
            **read,
            **self.activations.counts(),
            **self.listings.counts(),
            **self.signs.counts(),
            **inputs,
        }

    def last_event_at(self) -> datetime | None:
        """When the DSP received the latest event the store holds (a replay's clock where it
        stopped): events are decided in ``received_at`` order, so it is the last one decided."""
        latest = self.db.scalar(
            "SELECT MAX(t) FROM ("
            "SELECT MAX(last_received_at) AS t FROM activations "
            "UNION ALL SELECT MAX(received_at) FROM ad1_outcomes "
            "UNION ALL SELECT MAX(received_at) FROM ad1_duplicates "
            "UNION ALL SELECT MAX(received_at) FROM activation_outcomes "
            "UNION ALL SELECT MAX(received_at) FROM device_messages "
            "UNION ALL SELECT MAX(received_at) FROM ignored_inputs) AS latest"
        )
        return None if latest is None else from_us(int(latest))

    # -- maintenance (spec §15) ----------------------------------------------------------------

    def purge_expired(
        self, cutoffs: lifecycle.Cutoffs, dry_run: bool = False, held: Held | None = None
    ) -> dict[str, int]:
        """Purge (or count) what is past its retention, by kind (``lifecycle.purge_expired``)."""
        concepts = lifecycle.Concepts(self.inputs, self.sessions, self.reference, self.fleet)
        return lifecycle.purge_expired(self.db, concepts, cutoffs, dry_run, held)

    def take_maintenance_lease(self, owner: str, now: datetime, lasting: timedelta) -> bool:
        return lifecycle.take_lease(self.db, owner, now, lasting)

    def end_maintenance_lease(self, owner: str, now: datetime, ended: bool) -> None:
        lifecycle.end_lease(self.db, owner, now, ended)

    def last_maintenance(self) -> datetime | None:
        """When the last maintenance pass ended."""
        at = lifecycle.last_run(self.db)
        return None if at is None else from_us(at)

    def size_bytes(self) -> int:
        return self.db.size_bytes()

    def give_back_space(self) -> int:
        return self.db.give_back_space()

    @property
    def location(self) -> str:
        return self.db.location

    def transaction(self) -> AbstractContextManager[None]:
        """One write transaction (re-entrant): everything in it commits together or not at all."""
        return self.db.transaction()

    def meta(self, key: str) -> str | None:
        return self.db.meta(key)

    def set_meta(self, key: str, value: str) -> None:
        self.db.set_meta(key, value)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
