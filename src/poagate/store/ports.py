"""The narrow protocols consumers of the store are typed against: each is the methods one
consumer uses, and nothing of SQL. ``Store`` (``store.py``) and its ``DecisionUnit``
(``unit.py``) implement them; ``memory.py`` implements the decision path's in memory.

The decision path — a group of messages (``poagate.service.ingest``), a release-if-dark pass
(``.releases``), a verification pass (``.verifications``) — runs on a ``DecisionPath``: one
unit of work per transaction (``deciding``), each consumer typed against what it reads and
collects in it (``GroupUnit``, ``GuardUnit``, ``VerificationUnit``; ``AreaReads`` and
``Watermarks`` are the parts they share). The incident controls (``ControlPath``), an
explanation (``Explaining``), the exports and reporting (``LogReaders``), the reference loads
(``ReferenceLoading``), issuing a token (``TokenIssuing``), the DSP's push (``Pushing``) and
the delivery worker (``OutboxQueue``) each have theirs. The entry points (API routes, the
CLI) compose a whole ``Store``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol

from poagate.domain.events import Ignored
from poagate.domain.outcomes import ActivationRecord, ForwardedAlert, Outcome, SuppressionEntry
from poagate.domain.reference import Config, FleetSlice, GuidList, GuidListVersion
from poagate.domain.verification import VerificationRequest
from poagate.formats.errors import Rejection
from poagate.formats.reference.device_records import Manufacturers, Records
from poagate.formats.settings import Settings
from poagate.store.access import AuditEntry
from poagate.store.activations import Window
from poagate.store.alerts.decided import DecidedAlert, EvidencePoint
from poagate.store.alerts.listings import DayCounts, OutcomeFilter
from poagate.store.lifecycle import Cutoffs
from poagate.store.marks import Marks
from poagate.store.outbox import Delivery, DeliveryState, OutboundMessage
from poagate.store.pacing import Held
from poagate.store.reference.fleet import Admit, InventoryLoad

# -- the decision path --------------------------------------------------------------------------


class ConfigSource(Protocol):
    def settings(self) -> Settings: ...
    def config(self) -> Config: ...


class FleetLookup(Protocol):
    """The inventory in force, as the decision path and a server's ``DeviceCache`` read it."""

    def generation(self) -> int: ...
    def fill(
        self, answer: FleetSlice, device_ids: Sequence[str], chf_ids: Sequence[str], esmes: bool
    ) -> None: ...


class EvidenceReads(Protocol):
    def area_evidence(
        self, points: Iterable[EvidencePoint], span: timedelta, enough: int
    ) -> list[tuple[str, SuppressionEntry | ForwardedAlert]]: ...


class AreaReads(EvidenceReads, Protocol):
    """What area-outage reads of the Suppression Log (``releases.restore_area``)."""

    def waiting_entries(
        self, sectors: Sequence[str], start: datetime, end: datetime
    ) -> list[tuple[str, SuppressionEntry]]: ...


class Watermarks(Protocol):
    """How far a periodic pass has looked (arming a guard, and each pass)."""

    def meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def last_seq(self) -> int: ...


class Releasing(Protocol):
    def release(self, entries: Sequence[SuppressionEntry], at: datetime) -> None: ...


class GroupReads(Protocol):
    """What a group of messages reads before it decides: in its unit of work, or ahead of
    the writers' lock (``DecisionStore.read_ahead``, ``poagate.store.marks``)."""

    def marks(self) -> Marks: ...
    def settings(self) -> Settings: ...
    @property
    def fleet(self) -> FleetLookup: ...
    def guid_list_for(self, device_ids: Sequence[str]) -> GuidList: ...
    def activations_for(
        self, request_ids: Sequence[str], chf_ids: Sequence[str], device_ids: Sequence[str]
    ) -> list[ActivationRecord]: ...
    def decided_among(self, alert_ids: Sequence[str]) -> set[str]: ...
    def decided_since(
        self, alert_ids: Sequence[str], after_seq: int, upto_seq: int
    ) -> set[str]: ...


class GroupUnit(GroupReads, AreaReads, Releasing, Protocol):
    """What deciding a group of messages reads and collects (``service.ingest``)."""

    def add(self, outcome: Outcome, source: str | None = None, line: int | None = None) -> None: ...
    def add_ignored(self, ignored: Ignored, source: str | None, line: int | None) -> None: ...
    def add_rejected(self, rejection: Rejection, kind: str = "event") -> None: ...
    def store_sectors(self, sector_of: Callable[[str], str | None]) -> None: ...
    def enqueue(self, messages: Sequence[OutboundMessage], at: datetime) -> None: ...


class GuardUnit(AreaReads, Watermarks, Releasing, Protocol):
    """What a release-if-dark pass reads and collects (``service.releases``)."""

    def config(self) -> Config: ...
    def unreleased_due(
        self, after_seq: int, until: datetime, unanswered: bool = False, limit: int | None = None
    ) -> list[tuple[int, str | None, SuppressionEntry]]: ...
    def settled_seq(self, after_seq: int, until: datetime) -> int: ...
    def hub_signs(
        self, chf_ids: Sequence[str], after: datetime, until: datetime
    ) -> list[tuple[str, datetime]]: ...


class VerificationUnit(GuardUnit, Protocol):
    """What a verification pass reads and collects (``service.verifications``)."""

    def verifications_of(self, alert_ids: Sequence[str]) -> list[VerificationRequest]: ...
    def pending_of_released(self) -> list[VerificationRequest]: ...
    def save_verifications(self, requests: Iterable[VerificationRequest]) -> None: ...


class DecisionUnit(GroupUnit, VerificationUnit, Protocol):
    """One unit of work of the decision path (``unit.DecisionUnit``): everything collected is
    written when its transaction ends, or by ``flush`` before."""

    def flush(self) -> None: ...


class DecisionPath(Protocol):
    """A store the decision path runs on: the configuration and ``meta`` (read outside a
    transaction, so that a pass that is off, or that another process has just run, takes no
    lock), and units of work."""

    @property
    def reference(self) -> ConfigSource: ...
    def deciding(self) -> AbstractContextManager[DecisionUnit]: ...
    def meta(self, key: str) -> str | None: ...


class DecisionStore(DecisionPath, Protocol):
    """A store a process decides on for as long as it runs (``service.ingest.Ingestor``)."""

    def read_ahead(self) -> GroupReads | None:
        """A group's reads outside any transaction, or None where a group reads only in its
        unit of work."""
        ...

    def close(self) -> None: ...


# -- the incident controls and explanations -----------------------------------------------------


class Configuring(ConfigSource, Protocol):
    def save_settings(self, settings: Settings, actor: str, at: datetime) -> bool: ...
    def save_config(self, config: Config, actor: str, at: datetime) -> bool: ...


class AuditLog(Protocol):
    def record(self, at: datetime, actor: str, action: str, detail: dict[str, Any]) -> None: ...
    def last_act(self, actions: Sequence[str]) -> AuditEntry | None: ...


class WindowEnding(Protocol):
    def end_window(self, request_id: str, at: datetime, actor: str, note: str | None) -> Window: ...


class LogPages(Protocol):
    def ad1_outcomes(
        self, which: OutcomeFilter = ...
    ) -> Iterator[SuppressionEntry | ForwardedAlert]: ...
    def outcomes_page(
        self, which: OutcomeFilter, after_alert_id: str | None, limit: int
    ) -> list[SuppressionEntry | ForwardedAlert]: ...


class Selection(LogPages, Protocol):
    """The Suppression Log as an operator's release selects from it."""

    def count(self, which: OutcomeFilter) -> int: ...


class ReleaseSigning(Protocol):
    def sign_releases(self, alert_ids: Sequence[str], actor: str, note: str | None) -> None: ...


class ControlPath(DecisionPath, Protocol):
    """An operator's acts (spec §12, ``service.controls``, ``service.configuration``): changing
    the configuration (suspending included, arming a guard switched on), ending windows,
    releasing entries as a guard does, each act audited in its transaction."""

    @property
    def reference(self) -> Configuring: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def activations(self) -> WindowEnding: ...
    @property
    def listings(self) -> Selection: ...
    @property
    def alerts(self) -> ReleaseSigning: ...
    def transaction(self) -> AbstractContextManager[None]: ...


class Maintaining(Protocol):
    """A maintenance pass (spec §15, ``service.maintenance``): the retention in force, the
    purge, the lease that keeps it to one process at a time, its audit entry."""

    @property
    def reference(self) -> ConfigSource: ...
    @property
    def audit(self) -> AuditLog: ...
    def transaction(self) -> AbstractContextManager[None]: ...
    def purge_expired(
        self, cutoffs: Cutoffs, dry_run: bool = ..., held: Held | None = ...
    ) -> dict[str, int]: ...
    def take_maintenance_lease(self, owner: str, now: datetime, lasting: timedelta) -> bool: ...
    def end_maintenance_lease(self, owner: str, now: datetime, ended: bool) -> None: ...
    def last_maintenance(self) -> datetime | None: ...
    def size_bytes(self) -> int: ...
    def give_back_space(self) -> int: ...


class ExplainedAlerts(EvidenceReads, Protocol):
    def explained(
        self, alert_id: str, network_operators: frozenset[str] | None
    ) -> DecidedAlert | None: ...


class HubFleet(Protocol):
    def lookup(
        self, device_ids: Sequence[str], chf_ids: Sequence[str], esmes: bool = False
    ) -> FleetSlice: ...
    def members(self, chf_ids: Sequence[str]) -> dict[str, str]: ...


class HubWindows(Protocol):
    def windows_of_hub(
        self, chf_id: str, network_operators: frozenset[str] | None = None, limit: int = 100
    ) -> list[Window]: ...


class HubSigns(Protocol):
    def of_hubs(
        self, chf_ids: Sequence[str], members: dict[str, str], after: datetime, until: datetime
    ) -> list[tuple[str, datetime]]: ...


class AlertVerifications(Protocol):
    def of_alerts(self, alert_ids: Sequence[str]) -> list[VerificationRequest]: ...


class DeliveryStates(Protocol):
    def state_of(self, alert_id: str) -> DeliveryState | None: ...


class Explaining(Protocol):
    """What an explanation of one alert reads (``service.explain``)."""

    @property
    def alerts(self) -> ExplainedAlerts: ...
    @property
    def reference(self) -> ConfigSource: ...
    @property
    def fleet(self) -> HubFleet: ...
    @property
    def activations(self) -> HubWindows: ...
    @property
    def signs(self) -> HubSigns: ...
    @property
    def verifications(self) -> AlertVerifications: ...
    @property
    def outbox(self) -> DeliveryStates: ...


# -- readers, loads, delivery -------------------------------------------------------------------


class LogListing(LogPages, Protocol):
    def daily_counts(self, which: OutcomeFilter) -> list[DayCounts]: ...


class LogReaders(Protocol):
    """The Suppression Log as the exports and reporting read it (``service.export``,
    ``.reporting``)."""

    @property
    def listings(self) -> LogListing: ...


class FleetLoads(Protocol):
    """The inventory's versions and loads (spec §11)."""

    def base(self) -> int: ...
    def latest(self) -> InventoryLoad | None: ...
    def resumable(self, source: str, size: int) -> InventoryLoad | None: ...
    def progress(self, load_id: int) -> tuple[int, int, int]: ...
    def manufacturers(self, load_id: int) -> list[str]: ...
    def begin(self, source: str, size: int | None, at: datetime) -> int: ...
    def stage(
        self,
        load_id: int,
        staged: Records,
        rejected: Sequence[Rejection],
        rows_read: int,
        progress: tuple[int, int],
        manufacturers: Manufacturers,
    ) -> None: ...
    def finish(
        self,
        load_id: int,
        sha256: str,
        at: datetime,
        admit: Admit | None = None,
        keep: int = ...,
    ) -> InventoryLoad: ...
    def version(self, load_id: int) -> InventoryLoad | None: ...
    def refuse(self, load_id: int, keep: int = ...) -> None: ...
    def in_force_count(self) -> int: ...
    def rollback_target(self) -> int: ...
    def activate(
        self,
        load_id: int,
        source: str,
        at: datetime,
        admit: Admit | None = None,
        keep: int = ...,
    ) -> InventoryLoad: ...
    def apply_changes(
        self,
        upserts: Records,
        removals: Records,
        names: Sequence[str],
        rejected: Sequence[Rejection],
        rows_read: int,
        source: str,
        sha256: str,
        at: datetime,
        admit: Admit | None = None,
    ) -> InventoryLoad: ...


class GuidListLoads(Protocol):
    """The GUID list's versions and loads (spec §3)."""

    def guid_version(self) -> GuidListVersion | None: ...
    def begin_guid_list(self) -> int: ...
    def stage_guid_list(
        self, number: int, device_ids: set[str], rejected: Sequence[Rejection]
    ) -> None: ...
    def finish_guid_list(
        self,
        number: int,
        source: str,
        file_sha256: str,
        at: datetime,
        admit: Admit | None = None,
    ) -> tuple[GuidListVersion, bool]: ...
    def last_guid_list_file(self) -> str | None: ...
    def guid_rollback_target(self) -> int: ...
    def activate_guid_list(self, number: int, admit: Admit | None = None) -> GuidListVersion: ...


class ReferenceLoading(Protocol):
    """What loading reference data writes (``service.reference.loads``)."""

    @property
    def fleet(self) -> FleetLoads: ...
    @property
    def reference(self) -> GuidListLoads: ...


class ReferenceConfigured(GuidListLoads, Protocol):
    """The GUID list's loads and the settings in force (their reference limits)."""

    def settings(self) -> Settings: ...


class ReferenceActs(Protocol):
    """An operator's loads and rollbacks of reference data, audited
    (``service.reference.acts``)."""

    @property
    def fleet(self) -> FleetLoads: ...
    @property
    def reference(self) -> ReferenceConfigured: ...
    @property
    def audit(self) -> AuditLog: ...


class TokenAdding(Protocol):
    def add(
        self,
        token_sha256: str,
        role: str,
        network_operators: Sequence[str],
        description: str,
        at: datetime,
        actor: str,
    ) -> int: ...


class TokenIssuing(Protocol):
    """What issuing a token writes (``service.access``): the token's digest, audited."""

    @property
    def tokens(self) -> TokenAdding: ...


class PushQueue(Protocol):
    def unpushed(self, limit: int) -> list[tuple[int, VerificationRequest]]: ...
    def mark_pushed(self, ids: Sequence[int], at: datetime) -> None: ...


class Pushing(Protocol):
    """What the push of verification requests to the DSP's webhook reads and marks
    (``delivery.dsp_push``)."""

    @property
    def verifications(self) -> PushQueue: ...


class OutboxQueue(Protocol):
    """What a delivery worker needs: claiming due messages and settling each."""

    def due_operators(self, now: datetime) -> list[str]: ...
    def claim(
        self, now: datetime, lease: timedelta, limit: int, network_operator: str | None = None
    ) -> list[Delivery]: ...
    def delivered(self, delivery_ids: Sequence[int], at: datetime) -> None: ...
    def failed(self, delivery_id: int, error: str, retry_at: datetime | None) -> None: ...


class DecidedOutcomes(Protocol):
    def outcomes_of(
        self, alert_ids: Sequence[str]
    ) -> dict[str, SuppressionEntry | ForwardedAlert]: ...


class PayloadReads(Protocol):
    """What a delivery's payload is made of (spec §18): the decisions, and the inventory's
    routing of a forwarded AD1's hub (``delivery/payloads.py``)."""

    @property
    def alerts(self) -> DecidedOutcomes: ...
    @property
    def fleet(self) -> HubFleet: ...


class FeedOutcomes(Protocol):
    def feed_outcomes(
        self,
        network_operators: frozenset[str] | None,
        after_alert_id: str | None = None,
        limit: int = 100,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[ForwardedAlert | SuppressionEntry]: ...


class FeedReads(Protocol):
    """What the pull feed reads (``service/feed.py``): the feed's AD1s and their routing."""

    @property
    def listings(self) -> FeedOutcomes: ...
    @property
    def fleet(self) -> HubFleet: ...


class DeadDeliveries(Protocol):
    def retry_dead(
        self,
        network_operator: str | None,
        since: datetime | None,
        until: datetime | None,
        at: datetime,
        actor: str,
    ) -> int: ...


class DeadRetrying(Protocol):
    """Sending dead deliveries again (``service/deliveries.py``)."""

    @property
    def outbox(self) -> DeadDeliveries: ...
