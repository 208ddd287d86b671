"""The units of work of the decision path: what one transaction of decisions reads and writes.

* ``Decisions`` — batches numbered and written (``prepare``, ``write``, ``commit``). A replay,
  the only writer, keeps the numbering in memory and may write the prepared ``Rows`` in another
  process (``poagate.service.writer``).
* ``DecisionUnit`` — the service's unit, one per transaction (``Store.deciding``): a group of
  messages, a release-if-dark pass, a verification pass or an operator's release. It reads what
  the work needs (the configuration, the fleet, the gate's state, the guards' entries and
  evidence, the hubs' signs of life), collects what it decides (outcomes, messages for the DNOs'
  webhooks, releases, verification requests), and writes them all when the transaction ends
  (``flush``): outcomes and releases numbered after everything other processes committed, then
  the outbox. An error rolls all of it back.

Writers are serialised (``poagate.store.sqlbase``), so what a unit reads is everything decided
before it, and what it numbers follows on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from poagate.domain.events import Ignored
from poagate.domain.outcomes import ActivationRecord, ForwardedAlert, Outcome, SuppressionEntry
from poagate.domain.reference import Config, GuidList
from poagate.domain.verification import VerificationRequest
from poagate.formats.errors import Rejection
from poagate.formats.settings import Settings
from poagate.store.activations import Activations
from poagate.store.alerts.decided import DecidedAlerts, EvidencePoint
from poagate.store.batch import Batch, Rows, encode_batch, write_rows
from poagate.store.marks import Marks, read_marks
from poagate.store.outbox import OutboundMessage, Outbox
from poagate.store.reference import ReferenceData
from poagate.store.reference.fleet_reads import FleetReads
from poagate.store.signs import SignsOfLife
from poagate.store.sqlbase import Database
from poagate.store.verifications import Verifications

Queued = tuple[Sequence[OutboundMessage], datetime]  # messages for the webhooks, due from then
Due = tuple[list[str], datetime]  # alert_ids released, their held messages due from then


class Decisions:
    """Batches of decisions numbered and written (see the module docstring)."""

    def __init__(self, db: Database, alerts: DecidedAlerts) -> None:
        self._db = db
        self._alerts = alerts
        self._next_seq: int | None = None  # the next AD1 seq, once known

    def prepare(self, batch: Batch, sector_of: Callable[[str], str | None] | None = None) -> Rows:
        """The batch as rows to write, numbering its AD1 outcomes after those already stored.

        Batches must be prepared in the order they are written: a replay (the only writer)
        keeps the count in memory; a server process, one of several writers, calls
        ``forget_sequence`` inside its transaction first (``DecisionUnit`` does: the sequence is
        read then, or given by ``number_from``)."""
        if self._next_seq is None:
            self._next_seq = self._alerts.next_seq()
        rows = encode_batch(batch, self._next_seq, sector_of)
        self._next_seq = rows.next_seq
        return rows

    def write(self, rows: Rows) -> None:
        """Write prepared rows in one transaction (or in the one already open)."""
        write_rows(self._db, rows)

    def commit(self, batch: Batch, sector_of: Callable[[str], str | None] | None = None) -> None:
        self.write(self.prepare(batch, sector_of))

    def forget_sequence(self) -> None:
        """Other processes may have numbered since: read where numbering goes on when the next
        batch is prepared (inside the transaction), unless ``number_from`` says it first."""
        self._next_seq = None

    def number_from(self, next_seq: int) -> None:
        """Number the next batch from ``next_seq``, read inside the transaction
        (``Marks.next_seq``)."""
        self._next_seq = next_seq


class Collecting:
    """What a unit of work collects until it is written (by its ``flush``): outcomes, ignored
    and rejected input, the sectors AD1s are stored with, messages for the DNOs' webhooks,
    releases and verification requests."""

    def __init__(self) -> None:
        self._batch = Batch()
        self._sector_of: Callable[[str], str | None] | None = None
        self._queued: list[Queued] = []
        self._due: list[Due] = []

    def add(self, outcome: Outcome, source: str | None = None, line: int | None = None) -> None:
        self._batch.add(outcome, source, line)

    def add_ignored(self, ignored: Ignored, source: str | None, line: int | None) -> None:
        self._batch.add_ignored(ignored, source, line)

    def add_rejected(self, rejection: Rejection, kind: str = "event") -> None:
        self._batch.add_rejected(rejection, kind)

    def store_sectors(self, sector_of: Callable[[str], str | None]) -> None:
        """Store each AD1 with its hub's sector (area-outage on: spec §9)."""
        self._sector_of = sector_of

    def enqueue(self, messages: Sequence[OutboundMessage], at: datetime) -> None:
        """Queue messages for the DNOs' webhooks, due from ``at`` (or held)."""
        if messages:
            self._queued.append((messages, at))

    def release(self, entries: Sequence[SuppressionEntry], at: datetime) -> None:
        """Record releases (each entry with ``released_at`` and its reason), after the outcomes
        collected so far; their held messages become due from ``at``."""
        if entries:
            self._batch.releases += entries
            self._due.append(([e.alert_id for e in entries], at))

    def save_verifications(self, requests: Iterable[VerificationRequest]) -> None:
        """Record requests sent, and how requests ended (a later state of the same attempt
        replaces the earlier one)."""
        self._batch.verifications += requests

    def _collected(self) -> tuple[Batch, list[Queued], list[Due]]:
        """What was collected since the last time, handed over to be written."""
        found = (self._batch, self._queued, self._due)
        self._batch, self._queued, self._due = Batch(), [], []
        return found


class GroupReader:
    """What a group of messages reads before it decides: inside its transaction (as part of
    a ``DecisionUnit``), or ahead of it, outside any transaction (``Store.read_ahead``; see
    ``poagate.store.marks``)."""

    def __init__(
        self,
        db: Database,
        reference: ReferenceData,
        fleet: FleetReads,
        alerts: DecidedAlerts,
        activations: Activations,
    ) -> None:
        self._db = db
        self._reference = reference
        self.fleet = fleet
        self._alerts = alerts
        self._activations = activations

    def marks(self) -> Marks:
        return read_marks(self._db)

    def settings(self) -> Settings:
        return self._reference.settings()

    def config(self) -> Config:
        return self._reference.config()

    def guid_list_for(self, device_ids: Sequence[str]) -> GuidList:
        return self._reference.guid_list_for(device_ids)

    def activations_for(
        self, request_ids: Sequence[str], chf_ids: Sequence[str], device_ids: Sequence[str]
    ) -> list[ActivationRecord]:
        return self._activations.activations_for(request_ids, chf_ids, device_ids)

    def decided_among(self, alert_ids: Sequence[str]) -> set[str]:
        return self._alerts.decided_among(alert_ids)

    def decided_since(self, alert_ids: Sequence[str], after_seq: int, upto_seq: int) -> set[str]:
        return self._alerts.decided_since(alert_ids, after_seq, upto_seq)


class DecisionUnit(Collecting, GroupReader):
    """One transaction of the decision path (see the module docstring). Made by
    ``Store.deciding``, inside the transaction it opens."""

    def __init__(
        self,
        db: Database,
        decisions: Decisions,
        reference: ReferenceData,
        fleet: FleetReads,
        alerts: DecidedAlerts,
        activations: Activations,
        signs: SignsOfLife,
        verifications: Verifications,
        outbox: Outbox,
    ) -> None:
        GroupReader.__init__(self, db, reference, fleet, alerts, activations)
        self._decisions = decisions
        self._signs = signs
        self._verifications = verifications
        self._outbox = outbox
        decisions.forget_sequence()  # other processes may have numbered since
        Collecting.__init__(self)

    def marks(self) -> Marks:
        """The marks, read under the writers' lock: where numbering goes on, too."""
        marks = super().marks()
        self._decisions.number_from(marks.next_seq)
        return marks

    # -- what it reads besides a group's reads ---------------------------------------------

    def waiting_entries(
        self, sectors: Sequence[str], start: datetime, end: datetime
    ) -> list[tuple[str, SuppressionEntry]]:
        return self._alerts.waiting_entries(sectors, start, end)

    def area_evidence(
        self, points: Iterable[EvidencePoint], span: timedelta, enough: int
    ) -> list[tuple[str, SuppressionEntry | ForwardedAlert]]:
        return self._alerts.area_evidence(points, span, enough)

    def unreleased_due(
        self, after_seq: int, until: datetime, unanswered: bool = False, limit: int | None = None
    ) -> list[tuple[int, str | None, SuppressionEntry]]:
        return self._alerts.unreleased_due(after_seq, until, unanswered, limit)

    def settled_seq(self, after_seq: int, until: datetime) -> int:
        return self._alerts.settled_seq(after_seq, until)

    def last_seq(self) -> int:
        return self._alerts.last_seq()

    def hub_signs(
        self, chf_ids: Sequence[str], after: datetime, until: datetime
    ) -> list[tuple[str, datetime]]:
        """(chf_id, received_at) of the signs of life of each hub or a device joined to it
        (spec §9), received in (after, until]."""
        return self._signs.of_hubs(chf_ids, self.fleet.members(chf_ids), after, until)

    def verifications_of(self, alert_ids: Sequence[str]) -> list[VerificationRequest]:
        return self._verifications.of_alerts(alert_ids)

    def pending_of_released(self) -> list[VerificationRequest]:
        return self._verifications.pending_of_released()

    def meta(self, key: str) -> str | None:
        return self._db.meta(key)

    def set_meta(self, key: str, value: str) -> None:
        self._db.set_meta(key, value)

    def flush(self) -> None:
        """Write what was collected so far (still inside the transaction): outcomes, releases
        and verification requests, then the outbox. Called when the unit ends."""
        batch, queued, due = self._collected()
        self._decisions.write(self._decisions.prepare(batch, self._sector_of))
        for messages, at in queued:
            self._outbox.enqueue(messages, at)
        for alert_ids, at in due:
            self._outbox.release(alert_ids, at)
