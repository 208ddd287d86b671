"""The decision path's store in memory: a fake of ``ports.DecisionPath`` with the semantics of
the SQL stores, for tests that decide, release and verify in milliseconds.

It holds exactly what the decision path reads and writes — the configuration, a small fleet, the
GUID list, activation records, decided AD1s, signs of life, verification requests, the outbox
and the watermarks — in dictionaries (``Tables``), and keeps the rules the SQL stores keep in
their schema and statements:

* R6: an alert_id is decided once (``UNIQUE(alert_id)``): a second outcome fails the unit;
* AD1s are numbered in decision order after every number given before (``seq``), and a release
  takes the next number as its place in the feed (``feed_seq``);
* a release edits only an unreleased Suppression Log entry;
* an activation record is upserted by request_id, changing only what a repeat may change;
* a verification attempt is issued once, and written again only to say how it ended;
* a held message becomes pending, due from the release, when its entry is released;
* a unit writes everything it collected when it ends, and nothing if it raises.

``tests/decision_path`` runs the same tests on it, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta

from poagate.domain.events import Ignored
from poagate.domain.outcomes import ActivationRecord, ForwardedAlert, SuppressionEntry
from poagate.domain.reference import (
    Config,
    Device,
    FleetSlice,
    GuidList,
    GuidListVersion,
    Inventory,
    Route,
)
from poagate.domain.values import value
from poagate.domain.verification import VerificationOutcome, VerificationRequest
from poagate.formats.errors import Rejection
from poagate.formats.settings import Settings
from poagate.formats.timestamps import EPOCH
from poagate.store.alerts.decided import EvidencePoint
from poagate.store.marks import Marks
from poagate.store.outbox import OutboundMessage
from poagate.store.ports import ConfigSource, DecisionStore, DecisionUnit
from poagate.store.unit import Collecting

# What a repeat (R2) or R3/R4 changes of a stored record (``activations.ACTIVATION_MUTABLE``).
_MUTABLE = ("received_at", "status", "window_start", "window_end", "last_received_at", "repeats")


class DuplicateAlertError(RuntimeError):
    """A second outcome for a decided alert_id (R6): what ``UNIQUE(alert_id)`` refuses."""


@value
class StoredAlert:
    """A decided AD1 as ``ad1_outcomes`` holds it."""

    seq: int
    outcome: SuppressionEntry | ForwardedAlert
    sector: str | None
    feed_seq: int | None  # its place in its DNO's feed: forwarded at once, or released


@value
class QueuedMessage:
    """A message for a DNO's webhook as ``outbox`` holds it."""

    message: OutboundMessage
    status: str  # held or pending (delivery is the worker's, not the decision path's)
    created_at: datetime
    next_attempt_at: datetime


@dataclass(slots=True)
class Tables:
    """Everything the fake holds; a unit works on them and they are put back if it raises."""

    settings: Settings = field(default_factory=Settings)
    meta: dict[str, str] = field(default_factory=dict)
    activations: dict[str, tuple[int, ActivationRecord]] = field(default_factory=dict)
    alerts: dict[str, StoredAlert] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    signs: list[tuple[str, datetime]] = field(default_factory=list)
    verifications: dict[tuple[str, int], VerificationRequest] = field(default_factory=dict)
    outbox: list[QueuedMessage] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)
    rejected: list[tuple[str, Rejection]] = field(default_factory=list)

    def copy(self) -> Tables:
        """Each table copied (the records in them are immutable values)."""
        return Tables(**{f.name: copy.copy(getattr(self, f.name)) for f in fields(self)})


class MemoryReference:
    """The configuration in force (``ports.ConfigSource``)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def settings(self) -> Settings:
        return self._store.tables.settings

    def config(self) -> Config:
        return self._store.tables.settings.gate_config()


class MemoryFleet:
    """The inventory in force (``ports.FleetLookup``), from a domain ``Inventory``."""

    def __init__(self, devices: Iterable[Device]) -> None:
        self._inventory = Inventory(devices)

    def generation(self) -> int:
        return 1  # the fake's inventory never changes

    def fill(
        self, answer: FleetSlice, device_ids: Sequence[str], chf_ids: Sequence[str], esmes: bool
    ) -> None:
        inventory = self._inventory
        for chf_id in chf_ids:
            esme = inventory.esme_for_chf(chf_id)
            if esme is None:
                answer.routes[chf_id] = Route(None, "")
            else:
                answer.routes[chf_id] = Route(esme.device_id, esme.network_operator)
                if esmes:
                    answer.devices[esme.device_id] = esme
        for device_id in device_ids:
            answer.devices[device_id] = inventory.get(device_id)

    def members(self, chf_ids: Sequence[str]) -> dict[str, str]:
        """Every device joined to one of the hubs: device_id -> the hub's."""
        hubs = set(chf_ids)
        return {d.device_id: d.chf_id for d in self._inventory if d.chf_id in hubs}


class MemoryStore:
    """The decision path's store in memory (see the module docstring)."""

    def __init__(
        self,
        devices: Iterable[Device] = (),
        guid_list: Iterable[str] = (),
        config: Config | None = None,
        loaded_at: datetime | None = None,
    ) -> None:
        """A store holding ``devices``, the GUID list ``guid_list`` (version 1, loaded at
        ``loaded_at``, when given) and ``config`` (the defaults when None)."""
        self.tables = Tables()
        if config is not None:  # as ``save_config`` records it
            self.tables.settings = Settings().with_gate(config)
        self.fleet = MemoryFleet(devices)
        listed = frozenset(guid_list)
        version = None
        if listed or loaded_at is not None:
            version = GuidListVersion(1, loaded_at or EPOCH, len(listed), "")
        self.guid_list = GuidList(version, listed)
        self._reference = MemoryReference(self)

    @property
    def reference(self) -> ConfigSource:
        return self._reference

    def meta(self, key: str) -> str | None:
        return self.tables.meta.get(key)

    @contextmanager
    def deciding(self) -> Iterator[DecisionUnit]:
        saved = self.tables.copy()
        try:
            unit = MemoryUnit(self)
            yield unit
            unit.flush()
        except BaseException:
            self.tables = saved
            raise

    def read_ahead(self) -> None:
        """The fake does not read ahead: a group reads only in its unit of work."""

    def close(self) -> None:
        pass


class MemoryUnit(Collecting):
    """One unit of work on a ``MemoryStore`` (``ports.DecisionUnit``): it collects as the SQL
    stores' unit does (``unit.Collecting``) and writes to the tables."""

    def __init__(self, store: MemoryStore) -> None:
        super().__init__()
        self._store = store
        self.fleet = store.fleet

    @property
    def _tables(self) -> Tables:
        return self._store.tables

    # -- what it reads ------------------------------------------------------------------------

    def settings(self) -> Settings:
        return self._tables.settings

    def config(self) -> Config:
        return self._tables.settings.gate_config()

    def guid_list_for(self, device_ids: Sequence[str]) -> GuidList:
        listed = self._store.guid_list
        if listed.version is None:
            return GuidList(None, frozenset())
        return GuidList(listed.version, frozenset(d for d in device_ids if d in listed))

    def activations_for(
        self, request_ids: Sequence[str], chf_ids: Sequence[str], device_ids: Sequence[str]
    ) -> list[ActivationRecord]:
        requests, hubs, devices = set(request_ids), set(chf_ids), set(device_ids)
        return [
            record
            for _, record in sorted(self._tables.activations.values(), key=lambda r: r[0])
            if record.request_id in requests
            or (record.chf_id in hubs and record.window_start is not None)
            or (record.device_id in devices and record.kind.value == "future_dated")
        ]

    def decided_among(self, alert_ids: Sequence[str]) -> set[str]:
        return {a for a in alert_ids if a in self._tables.alerts}

    def decided_since(self, alert_ids: Sequence[str], after_seq: int, upto_seq: int) -> set[str]:
        alerts = self._tables.alerts
        return {a for a in alert_ids if a in alerts and after_seq < alerts[a].seq <= upto_seq}

    def marks(self) -> Marks:
        """Only the decisions are followed: the fake does not read ahead (``read_ahead``)."""
        return Marks(0, self.fleet.generation(), ("", 0), 0, self.last_seq(), 0)

    def _in_order(self) -> list[StoredAlert]:
        return sorted(self._tables.alerts.values(), key=lambda a: a.seq)

    def waiting_entries(
        self, sectors: Sequence[str], start: datetime, end: datetime
    ) -> list[tuple[str, SuppressionEntry]]:
        wanted = set(sectors)
        return [
            (a.sector, a.outcome)
            for a in self._in_order()
            if type(a.outcome) is SuppressionEntry
            and a.outcome.released_at is None
            and a.sector is not None
            and a.sector in wanted
            and start <= a.outcome.event_at <= end
        ]

    def area_evidence(
        self, points: Iterable[EvidencePoint], span: timedelta, enough: int
    ) -> list[tuple[str, SuppressionEntry | ForwardedAlert]]:
        found: dict[str, tuple[str, SuppressionEntry | ForwardedAlert]] = {}
        reached = [a for a in self._in_order() if a.sector is not None and a.feed_seq is not None]
        for sector, chf_id, at in sorted({(p.sector, p.chf_id, p.event_at) for p in points}):
            near = [
                a
                for a in reached
                if a.sector == sector
                and a.outcome.chf_id != chf_id
                and abs(a.outcome.event_at - at) <= span
            ]
            for a in near[:enough]:
                assert a.sector is not None
                found.setdefault(a.outcome.alert_id, (a.sector, a.outcome))
        return list(found.values())

    def unreleased_due(
        self, after_seq: int, until: datetime, unanswered: bool = False, limit: int | None = None
    ) -> list[tuple[int, str | None, SuppressionEntry]]:
        answered = {
            r.alert_id
            for r in self._tables.verifications.values()
            if unanswered and r.outcome is VerificationOutcome.ANSWERED
        }
        return [
            (a.seq, a.sector, a.outcome)
            for a in self._in_order()
            if type(a.outcome) is SuppressionEntry
            and a.outcome.released_at is None
            and a.seq > after_seq
            and a.outcome.event_at <= until
            and a.outcome.alert_id not in answered
        ][:limit]

    def settled_seq(self, after_seq: int, until: datetime) -> int:
        undue = [
            a.seq
            for a in self._tables.alerts.values()
            if type(a.outcome) is SuppressionEntry
            and a.outcome.released_at is None
            and a.seq > after_seq
            and a.outcome.event_at > until
        ]
        return min(undue) - 1 if undue else self.last_seq()

    def last_seq(self) -> int:
        return max((a.seq for a in self._tables.alerts.values()), default=0)

    def hub_signs(
        self, chf_ids: Sequence[str], after: datetime, until: datetime
    ) -> list[tuple[str, datetime]]:
        hub_of = {**self.fleet.members(chf_ids), **{chf: chf for chf in chf_ids}}
        return [
            (hub_of[device], at)
            for device, at in self._tables.signs
            if device in hub_of and after < at <= until
        ]

    def verifications_of(self, alert_ids: Sequence[str]) -> list[VerificationRequest]:
        wanted = set(alert_ids)
        return sorted(
            (r for r in self._tables.verifications.values() if r.alert_id in wanted),
            key=lambda r: (r.alert_id, r.attempt),
        )

    def pending_of_released(self) -> list[VerificationRequest]:
        alerts = self._tables.alerts
        return [
            r
            for r in self._tables.verifications.values()
            if r.outcome is VerificationOutcome.PENDING
            and r.alert_id in alerts
            and _released(alerts[r.alert_id].outcome)
        ]

    def meta(self, key: str) -> str | None:
        return self._tables.meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self._tables.meta[key] = value

    def flush(self) -> None:
        """Write what was collected, in the order the SQL stores write it."""
        batch, queued, due = self._collected()
        tables = self._tables
        seq = max((n for a in tables.alerts.values() for n in (a.seq, a.feed_seq or 0)), default=0)
        for outcome in batch.ad1_outcomes:
            seq += 1
            if outcome.alert_id in tables.alerts:
                raise DuplicateAlertError(f"{outcome.alert_id} is decided already (R6)")
            sector = None if self._sector_of is None else self._sector_of(outcome.chf_id)
            forwarded = type(outcome) is ForwardedAlert
            tables.alerts[outcome.alert_id] = StoredAlert(
                seq, outcome, sector, seq if forwarded else None
            )
        for entry in batch.releases:
            if entry.released_at is None:
                continue
            seq += 1
            stored = tables.alerts.get(entry.alert_id)
            if (
                stored is not None
                and type(stored.outcome) is SuppressionEntry
                and stored.outcome.released_at is None
            ):
                released = replace(
                    stored.outcome,
                    released_at=entry.released_at,
                    release_reason=entry.release_reason or "",
                )
                tables.alerts[entry.alert_id] = replace(stored, outcome=released, feed_seq=seq)
        for record in batch.activations.values():
            self._upsert(record)
        tables.duplicates += [d.alert_id for d, _, _ in batch.duplicates]
        tables.signs += [(o.device_id, o.received_at) for o in batch.activation_outcomes]
        tables.signs += [(m.device_id, m.received_at) for m in batch.device_messages]
        tables.ignored += [i for i, _, _ in batch.ignored]
        tables.rejected += batch.rejected
        for request in batch.verifications:
            key = (request.alert_id, request.attempt)
            issued = tables.verifications.get(key)
            tables.verifications[key] = (
                request
                if issued is None
                else replace(issued, settled_at=request.settled_at, outcome=request.outcome)
            )
        for messages, at in queued:
            tables.outbox += [QueuedMessage(m, m.status, at, at) for m in messages]
        for alert_ids, at in due:
            due_now = set(alert_ids)
            tables.outbox = [
                replace(q, status="pending", next_attempt_at=at)
                if q.status == "held" and q.message.alert_id in due_now
                else q
                for q in tables.outbox
            ]

    def _upsert(self, record: ActivationRecord) -> None:
        stored = self._tables.activations.get(record.request_id)
        if stored is None:
            seq = len(self._tables.activations) + 1
            self._tables.activations[record.request_id] = (seq, record)
            return
        seq, old = stored
        changes = {name: getattr(record, name) for name in _MUTABLE}
        self._tables.activations[record.request_id] = (seq, replace(old, **changes))


def _released(outcome: SuppressionEntry | ForwardedAlert) -> bool:
    return type(outcome) is SuppressionEntry and outcome.released_at is not None


# mypy checks the fake against the protocol it stands in for.
_CONFORMS: type[DecisionStore] = MemoryStore
