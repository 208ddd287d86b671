"""The narrow protocols consumers of the store are typed against: each says what one consumer
needs, and nothing of SQL. ``Store`` (``store.py``) implements all of them.

* ``DecisionPath`` — deciding a group of messages, or a guard's release pass, inside one
  transaction: the reference data and gate state it reads, the guards' evidence, the unit of
  work it writes, the outbox it queues to (``poagate.service.ingest``, ``.releases``).
* ``Readers`` — reading what was decided (the API's listings, the exports).
* ``TokensAndAudit`` — tokens and the audit log (the API's authentication, admin, the CLI).
* ``OutboxQueue`` — claiming and settling deliveries (``poagate.delivery``).
* ``ControlPath`` — the incident controls (spec §12): suspending, ending windows, releasing
  entries as a guard does, explaining an alert (``poagate.service.controls``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Protocol

from poagate.store.access import Audit, Tokens
from poagate.store.controls import Controls
from poagate.store.decisions import Decisions
from poagate.store.fleet_reads import FleetReads
from poagate.store.guard_reads import GuardReads
from poagate.store.outbox import Outbox
from poagate.store.reads import Reads
from poagate.store.records import Delivery
from poagate.store.reference import ReferenceData
from poagate.store.verifications import Verifications


class DecisionPath(Protocol):
    @property
    def reference(self) -> ReferenceData: ...
    @property
    def fleet(self) -> FleetReads: ...
    @property
    def decisions(self) -> Decisions: ...
    @property
    def guards(self) -> GuardReads: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def verifications(self) -> Verifications: ...
    def transaction(self) -> AbstractContextManager[None]: ...
    def meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...


class ControlPath(DecisionPath, Protocol):
    @property
    def controls(self) -> Controls: ...
    @property
    def reads(self) -> Reads: ...
    @property
    def audit(self) -> Audit: ...


class Readers(Protocol):
    @property
    def reads(self) -> Reads: ...
    @property
    def reference(self) -> ReferenceData: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def verifications(self) -> Verifications: ...


class TokensAndAudit(Protocol):
    @property
    def tokens(self) -> Tokens: ...
    @property
    def audit(self) -> Audit: ...


class OutboxQueue(Protocol):
    """What a delivery worker needs: claiming due messages and settling each."""

    def claim(self, now: datetime, lease: timedelta, limit: int) -> list[Delivery]: ...
    def delivered(self, delivery_id: int, at: datetime) -> None: ...
    def failed(self, delivery_id: int, error: str, retry_at: datetime | None) -> None: ...
