"""The decision path on every store: the in-memory fake (``poagate.store.memory``), SQLite and
PostgreSQL.

Each test of this folder runs once on each. The fake's runs take milliseconds and are the fast
tier (``pytest tests/decision_path -m "not contract"``); the SQLite and PostgreSQL runs are the
store contract suite (marker ``contract``): a store that passes them decides, numbers, releases,
queues and verifies as the fake does, which is what lets the fast tests stand for the real ones.

The fleet: four sites in one postcode sector (``SW1A 1``), site n an ESME of network operator
``1n`` on the GUID list joined to its hub, so AD1s of the other hubs are area-outage evidence
for each other. Every decision goes through the service's ``Ingestor`` (one group commit each),
every pass through the service's functions; what they stored is read back through ``Seen``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import psycopg
import pytest

from poagate.domain.events import Activation, Ad1Alert, DeviceMessage, Event
from poagate.domain.outcomes import ForwardedAlert, Outcome, SuppressionEntry
from poagate.domain.reference import Config, Device, DeviceType, SmetsVersion
from poagate.domain.verification import VerificationRequest
from poagate.formats.reference.inventory import write_inventory
from poagate.service.ingest import Ingestor, Item
from poagate.service.reference.loads import load_guid_list, load_inventory
from poagate.store.alerts.listings import OutcomeFilter
from poagate.store.database import open_store
from poagate.store.memory import DuplicateAlertError, MemoryStore
from poagate.store.ports import DecisionPath
from poagate.store.store import Store
from tests.helpers import USER, mpan, ts
from tests.pg import PostgresServer

ESME_0 = "00-DB-12-34-56-78-00-A0"
START = ts("2026-03-01T10:00:00Z")
SITES = 4
OPERATORS = frozenset(f"1{n}" for n in range(SITES))


def esme_of(n: int) -> str:
    return f"00-DB-12-34-56-78-{n:02X}-A0"


def chf_of(n: int) -> str:
    return f"00-DB-12-34-56-78-{n:02X}-C0"


def fleet() -> list[Device]:
    devices = []
    for n in range(SITES):
        operator = f"1{n}"
        devices.append(
            Device(
                esme_of(n),
                DeviceType.ESME,
                SmetsVersion.SMETS2,
                "LANDIS+GYR",
                chf_of(n),
                mpan(operator),
                operator,
                f"SW1A 1A{chr(ord('A') + n)}",
            )
        )
        devices.append(Device(chf_of(n), DeviceType.CHF, SmetsVersion.SMETS2, "TOSHIBA"))
    return devices


def activation(n: int, received: str, counter: int = 1) -> Activation:
    """An immediate activation of site n's ESME (a 30-minute window from ``received``)."""
    return Activation(f"{USER}:{esme_of(n)}:{counter}", USER, esme_of(n), ts(received))


def ad1(alert_id: str, n: int, event: str, received: str | None = None) -> Ad1Alert:
    """An AD1 of site n's hub, its outage at ``event``, received then (or at ``received``)."""
    return Ad1Alert(alert_id, chf_of(n), ts(received or event), ts(event))


def message(n: int, received: str) -> DeviceMessage:
    """A sign of life from site n's ESME."""
    return DeviceMessage(esme_of(n), ts(received))


class Seen(Protocol):
    """What a test reads back of a store, the same way on every backend."""

    def entry(self, alert_id: str) -> SuppressionEntry | ForwardedAlert | None: ...
    def feed(self) -> list[str]: ...
    def message(self, alert_id: str) -> tuple[str, datetime] | None: ...
    def requests(self) -> list[VerificationRequest]: ...
    def meta(self, key: str) -> str | None: ...


class SeenInStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    def entry(self, alert_id: str) -> SuppressionEntry | ForwardedAlert | None:
        which = OutcomeFilter(alert_ids=frozenset({alert_id}))
        return next(iter(self._store.listings.ad1_outcomes(which)), None)

    def feed(self) -> list[str]:
        return [a.alert_id for a in self._store.listings.feed_page(None, limit=10_000)]

    def message(self, alert_id: str) -> tuple[str, datetime] | None:
        state = self._store.outbox.state_of(alert_id)
        return None if state is None else (state.status, state.next_attempt_at)

    def requests(self) -> list[VerificationRequest]:
        return sorted(self._store.verifications.all(), key=lambda r: (r.alert_id, r.attempt))

    def meta(self, key: str) -> str | None:
        return self._store.meta(key)


class SeenInMemory:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def entry(self, alert_id: str) -> SuppressionEntry | ForwardedAlert | None:
        stored = self._store.tables.alerts.get(alert_id)
        return None if stored is None else stored.outcome

    def feed(self) -> list[str]:
        placed = [a for a in self._store.tables.alerts.values() if a.feed_seq is not None]
        return [a.outcome.alert_id for a in sorted(placed, key=lambda a: a.feed_seq or 0)]

    def message(self, alert_id: str) -> tuple[str, datetime] | None:
        found = [q for q in self._store.tables.outbox if q.message.alert_id == alert_id]
        return None if not found else (found[-1].status, found[-1].next_attempt_at)

    def requests(self) -> list[VerificationRequest]:
        found = self._store.tables.verifications.values()
        return sorted(found, key=lambda r: (r.alert_id, r.attempt))

    def meta(self, key: str) -> str | None:
        return self._store.tables.meta.get(key)


@dataclass
class Backend:
    """A store of one backend with the fleet loaded, the service's ingestor on it, and a clock
    the test moves."""

    kind: str
    store: DecisionPath
    seen: Seen
    refusal: tuple[type[BaseException], ...]  # what the store raises for a repeated alert_id
    configure_store: Any
    now: datetime = START
    ingestor: Ingestor[Any] = field(init=False)
    # Opens the store for a decider: another connection to it (the fake: the fake itself).
    open_store: Callable[[], Any] = field(init=False)

    def configure(self, **changes: Any) -> Config:
        """Put the configuration with ``changes`` in force (as DCC operations would)."""
        config = Config(**changes)
        self.configure_store(config)
        return config

    def decide(self, *events: Event, at: str | None = None) -> list[Outcome | None]:
        """Decide ``events`` as one group, at ``at`` (default: the clock); their outcomes."""
        if at is not None:
            self.now = ts(at)
        results = self.ingestor.decide_now(
            "test",
            [Item(n + 1, event, payload=b"{}") for n, event in enumerate(events)],
        )
        return [r.outcome for r in results]  # type: ignore[misc]


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("sqlite", id="sqlite", marks=pytest.mark.contract),
        pytest.param("postgres", id="postgres", marks=pytest.mark.contract),
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    kind: str = request.param
    guid_list = [esme_of(n) for n in range(SITES)]
    if kind == "memory":
        fake = MemoryStore(fleet(), guid_list, loaded_at=START)

        def configure_fake(config: Config) -> None:
            fake.tables.settings = fake.tables.settings.with_gate(config)

        found = Backend(kind, fake, SeenInMemory(fake), (DuplicateAlertError,), configure_fake)
        yield from _running(found, lambda: fake)
        return
    if kind == "sqlite":
        database = f"sqlite:///{tmp_path / 'poagate.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        database = server.fresh_database()
    with open_store(database, "service", schema="create") as store:
        inventory = tmp_path / "inventory.csv"
        with inventory.open("w") as f:
            write_inventory(fleet(), f)
        load_inventory(store, inventory, START)
        listed = tmp_path / "guid-list.txt"
        listed.write_text("\n".join(guid_list) + "\n")
        load_guid_list(store, listed, START)

        def configure_real(config: Config) -> None:
            store.reference.save_config(config, "test", START)

        refusal = (sqlite3.IntegrityError, psycopg.IntegrityError)
        found = Backend(kind, store, SeenInStore(store), refusal, configure_real)
        yield from _running(found, lambda: open_store(database, "service"))


def _running(found: Backend, open_for_ingestor: Any) -> Iterator[Backend]:
    """The ingestor started on its own connection, stopped after the test."""
    found.open_store = open_for_ingestor
    found.ingestor = Ingestor(
        open_for_ingestor, lambda: found.now, webhooks=lambda settings: OPERATORS
    )
    found.ingestor.start()
    try:
        yield found
    finally:
        found.ingestor.stop()
