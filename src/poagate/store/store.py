"""One store: a database and the concepts kept in it, each in a module of its own.

* ``reference`` — the GUID list's versions, the configuration (``reference.py``);
* ``fleet`` — the inventory: its versions, full loads, change files and reads (``fleet.py``,
  ``fleet_reads.py``, ``fleet_blocks.py``);
* ``decisions`` — the gate's durable state and the unit of work (``decisions.py``);
* ``guards`` — what the spec §9 guards read in the service (``guard_reads.py``);
* ``reads`` — the Suppression Log, the feed, activation records, counts (``reads.py``);
* ``tokens`` and ``audit`` — who may call, and who changed what (``access.py``);
* ``outbox`` — forwarded AD1s on their way to the DNOs' webhooks (``outbox.py``);
* ``controls`` — the incident controls: windows ended, releases signed, explanations
  (``controls.py``, spec §12).
* ``verifications`` — the verification guard's requests, the DSP's queue (``verifications.py``).
* ``sessions`` — who is signed in to the console (``sessions.py``, spec §13).

Each concept sees only the database (``sqlbase.Database``); a consumer is typed against the
narrow protocol of what it uses (``ports.py``). ``SqliteStore`` and ``PostgresStore`` open one.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from poagate.store.access import Audit, Tokens
from poagate.store.controls import Controls
from poagate.store.decisions import Decisions
from poagate.store.fleet import FleetStore
from poagate.store.guard_reads import GuardReads
from poagate.store.outbox import Outbox
from poagate.store.reads import Reads
from poagate.store.reference import ReferenceData
from poagate.store.sessions import ConsoleSessions
from poagate.store.sqlbase import Database
from poagate.store.verifications import Verifications


class Store:
    """See the module docstring."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.reference = ReferenceData(db)
        self.fleet = FleetStore(db)
        self.decisions = Decisions(db)
        self.guards = GuardReads(db)
        self.reads = Reads(db)
        self.audit = Audit(db)
        self.tokens = Tokens(db, self.audit)
        self.outbox = Outbox(db, self.audit)
        self.controls = Controls(db)
        self.verifications = Verifications(db)
        self.sessions = ConsoleSessions(db)

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
