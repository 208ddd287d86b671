"""The suppression gate: the state machine of spec §5 (R2–R9).

The gate owns its hot state in memory — every activation by ``request_id``, the windows of each
CHF, the future-dated activations of each device and the ``alert_id``s already decided — and
answers each event with the outcome that must be made durable. It never reads the clock: the
caller passes ``decided_at`` (the service's clock, or the event clock in a replay). A restart
rebuilds the state from the store with ``Gate.restore``.

Finding the windows of a CHF is one dictionary lookup; the work per alert is proportional to the
windows of that one CHF (a handful), never to the number of open windows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from poagate.domain.events import Activation, ActivationKind, Ad1Alert, Event
from poagate.domain.guards import Guards
from poagate.domain.outcomes import (
    AREA_OUTAGE_EVIDENCE,
    FORWARD_REASON,
    SUPPRESSION_SUSPENDED,
    ActivationApplied,
    ActivationRecord,
    Ad1Outcome,
    DuplicateAlert,
    ForwardedAlert,
    Outcome,
    Status,
    SuppressionEntry,
    WindowVerdict,
)
from poagate.domain.reference import EMPTY_GUID_LIST, Config, Fleet, GuidList
from poagate.domain.rules import Reason, judge_eligibility
from poagate.domain.verification import VerificationRequest

# The verdicts and the status as module constants: ``window_verdict`` runs for every window of
# every AD1's hub, and a global is cheaper to read than an enum's attribute.
_NO_WINDOW, _CANCELLED, _SUPERSEDED = (
    WindowVerdict.NO_WINDOW,
    WindowVerdict.CANCELLED,
    WindowVerdict.SUPERSEDED,
)
_ENDED, _OUTSIDE, _CONTAINS = WindowVerdict.ENDED, WindowVerdict.OUTSIDE, WindowVerdict.CONTAINS
_ACTIVE = Status.ACTIVE


class Gate:
    """Decides every event against the reference data in force (see the module docstring)."""

    __slots__ = (
        "_activations",
        "_decided",
        "_future_by_device",
        "_guarded",
        "_suppressing",
        "_windows_by_chf",
        "config",
        "guards",
        "guid_list",
        "inventory",
    )

    def __init__(
        self,
        inventory: Fleet,
        guid_list: GuidList = EMPTY_GUID_LIST,
        config: Config | None = None,
    ) -> None:
        self.inventory = inventory
        self.guid_list = guid_list
        self.config = config if config is not None else Config()
        self._activations: dict[str, ActivationRecord] = {}
        self._windows_by_chf: dict[str, list[ActivationRecord]] = {}
        self._future_by_device: dict[str, list[ActivationRecord]] = {}
        self._decided: set[str] = set()
        self.guards = Guards(self.config, inventory)
        self._guarded = self.guards.active
        self._suppressing = self.config.suppression_enabled  # spec §12: off while suspended

    # -- state --------------------------------------------------------------------------------

    def restore(
        self, records: Iterable[ActivationRecord], decided_alert_ids: Iterable[str]
    ) -> None:
        """Rebuild the in-memory state from what the store holds (records in first-seen order)."""
        for record in records:
            self._index(record)
        self._decided.update(decided_alert_ids)

    def _index(self, record: ActivationRecord) -> None:
        self._activations[record.request_id] = record
        if record.kind is ActivationKind.FUTURE_DATED:
            self._future_by_device.setdefault(record.device_id, []).append(record)
        if record.window_start is not None and record.chf_id is not None:
            self._windows_by_chf.setdefault(record.chf_id, []).append(record)

    def activation_records(self) -> Iterator[ActivationRecord]:
        """Every activation record, in first-seen order."""
        return iter(self._activations.values())

    def activation(self, request_id: str) -> ActivationRecord | None:
        return self._activations.get(request_id)

    def is_decided(self, alert_id: str) -> bool:
        return alert_id in self._decided

    def windows_of(self, chf_id: str) -> tuple[ActivationRecord, ...]:
        return tuple(self._windows_by_chf.get(chf_id, ()))

    def open_windows(self, at: datetime) -> int:
        """How many windows of usable activations contain ``at`` (for metrics; a full scan)."""
        return sum(
            1
            for records in self._windows_by_chf.values()
            for r in records
            if r.status is Status.ACTIVE
            and r.window_start is not None
            and r.window_end is not None
            and r.window_start <= at < r.window_end
        )

    # -- events -------------------------------------------------------------------------------

    def apply(self, event: Event, decided_at: datetime) -> Outcome:
        """Decide one event. ``decided_at`` is when the decision is taken."""
        if isinstance(event, Ad1Alert):
            return self.decide_ad1(event, decided_at)
        if isinstance(event, Activation):
            return self.activate(event)
        # R9: outcomes and device messages never change a decision; they are recorded. With
        # release-if-dark or verification on they are the signs of life they wait for (§9, §14).
        if self._guarded:
            self.guards.sign_of_life(event.device_id, event.received_at)
        return event

    def releases_due(self, now: datetime, *, inclusive: bool = True) -> list[SuppressionEntry]:
        """Suppression Log entries released by a guard (spec §9) by ``now`` (strictly before it
        when not ``inclusive``), and those area-outage released since it was last asked: each
        is the entry with ``released_at`` and ``release_reason`` set, to be recorded and
        forwarded late. Always empty with both guards off."""
        return self.guards.due(now, inclusive=inclusive) if self._guarded else []

    def verification_requests(self) -> list[VerificationRequest]:
        """The spec §14 verification requests sent and settled since last asked, in order."""
        verifier = self.guards.verifier
        return [] if verifier is None else verifier.take_requests()

    def activate(self, event: Activation) -> ActivationApplied:
        record = self._activations.get(event.request_id)
        if record is not None:
            return ActivationApplied((self._repeat(record, event),), repeat=True)
        kind = event.kind
        version = self.guid_list.version
        if kind is ActivationKind.CANCELLATION:
            device = self.inventory.get(event.device_id)
            reason = Reason.CANCELLATION
        else:
            reason, device = judge_eligibility(
                event.device_id, self.inventory, self.guid_list, self.config
            )
        window_start = window_end = None
        if reason is Reason.ELIGIBLE:
            # R2: an immediate window runs from receipt, a future-dated one from execution.
            window_start = event.received_at if event.execution_at is None else event.execution_at
            window_end = window_start + self.config.window
        record = ActivationRecord(
            request_id=event.request_id,
            device_id=event.device_id,
            originator=event.originator,
            kind=kind,
            received_at=event.received_at,
            execution_at=event.execution_at,
            chf_id=None if device is None else device.chf_id,
            reason=reason,
            status=Status.ACTIVE,
            window_start=window_start,
            window_end=window_end,
            guid_list_version=None if version is None else version.number,
            mpan=None if device is None else device.mpan,
            network_operator="" if device is None else device.network_operator,
            last_received_at=event.received_at,
            command_variant=event.command_variant,
            firmware_hash=event.firmware_hash,
        )
        changed = [record]
        if kind is ActivationKind.CANCELLATION:
            changed += self._mark_pending(event.device_id, event.received_at, Status.CANCELLED)
        elif kind is ActivationKind.FUTURE_DATED:
            changed += self._mark_pending(event.device_id, event.received_at, Status.SUPERSEDED)
        self._index(record)
        return ActivationApplied(tuple(changed), repeat=False)

    def _repeat(self, record: ActivationRecord, event: Activation) -> ActivationRecord:
        """A DSP retry or signed pre-command: the same request_id again (R2)."""
        record.repeats += 1
        # Events normally arrive in received_at order; a back-filled one may be earlier.
        if event.received_at > record.last_received_at:
            record.last_received_at = event.received_at
        if event.received_at < record.received_at:
            record.received_at = event.received_at
        if record.kind is ActivationKind.IMMEDIATE and record.window_end is not None:
            # R2: from the first received_at to W after the last received_at.
            record.window_start = record.received_at
            record.window_end = max(record.window_end, event.received_at + self.config.window)
        return record

    def _mark_pending(
        self, device_id: str, now: datetime, status: Status
    ) -> list[ActivationRecord]:
        """R3 (supersede) and R4 (cancel): every other future-dated activation of the device,
        eligible or not, whose execution is still after ``now``. A window that has started
        already is not affected; a status once changed is not changed again."""
        changed = []
        for record in self._future_by_device.get(device_id, ()):
            if (
                record.status is Status.ACTIVE
                and record.execution_at is not None
                and record.execution_at > now
            ):
                record.status = status
                changed.append(record)
        return changed

    def decide_ad1(self, alert: Ad1Alert, decided_at: datetime) -> Ad1Outcome:
        # R6: exactly one outcome per alert_id; a repeat changes nothing.
        if alert.alert_id in self._decided:
            return DuplicateAlert(alert.alert_id, alert.chf_id, alert.received_at)
        self._decided.add(alert.alert_id)
        outage_at = alert.received_at if alert.event_at is None else alert.event_at
        best: ActivationRecord | None = None
        best_start = best_end = outage_at
        # spec §12: while suppression is suspended no window is looked at.
        candidates = self._windows_by_chf.get(alert.chf_id) if self._suppressing else None
        if candidates:
            skew = self.config.skew_tolerance
            received_at = alert.received_at
            for record in candidates:
                # Whether a window may suppress this AD1 is stated once, in ``window_verdict``,
                # which an explanation asks too: the two cannot disagree.
                if window_verdict(record, outage_at, received_at, skew) is not _CONTAINS:
                    continue
                start, end = record.window_start, record.window_end
                assert start is not None  # a window that contains the outage has both ends
                assert end is not None
                # R5: the window that starts last wins; ties go to the smallest request_id.
                if (
                    best is None
                    or start > best_start
                    or (start == best_start and record.request_id < best.request_id)
                ):
                    best, best_start, best_end = record, start, end
        if best is not None and not (
            self._guarded and self.guards.area_evidence(alert.chf_id, outage_at)
        ):
            # The entry keeps the window as it stands now; a later repeat may still extend it.
            entry = SuppressionEntry(
                alert_id=alert.alert_id,
                chf_id=alert.chf_id,
                esme_id=best.device_id,
                mpan=best.mpan,
                network_operator=best.network_operator,
                event_at=outage_at,
                received_at=alert.received_at,
                decided_at=decided_at,
                activation_request_id=best.request_id,
                activation_originator=best.originator,
                window_start=best_start,
                window_end=best_end,
            )
            if self._guarded:
                self.guards.suppressed(entry, decided_at)
            return entry
        # R5/R7/R8: no window (or nothing known about the CHF) -> forward to the CHF's DNO.
        # spec §9: an AD1 in a window, but with an outage around it in its sector, too.
        if not self._suppressing:
            reason = SUPPRESSION_SUSPENDED
        elif best is None:
            reason = FORWARD_REASON
        else:
            reason = AREA_OUTAGE_EVIDENCE
        forwarded = ForwardedAlert(
            alert.alert_id,
            alert.chf_id,
            self.inventory.network_operator_of_chf(alert.chf_id),
            outage_at,
            alert.received_at,
            decided_at,
            reason,
        )
        if self._guarded:
            self.guards.forwarded(alert.chf_id, outage_at, decided_at)
        return forwarded


def window_verdict(
    record: ActivationRecord, outage_at: datetime, received_at: datetime, skew: timedelta
) -> WindowVerdict:
    """How one activation's window stands for an AD1 with this outage time and receipt, each
    check named: ``CONTAINS`` is a window R5 may choose. ``Gate.decide_ad1`` asks it of each
    window of the hub, and an explanation (spec §12) asks it of each activation."""
    start, end = record.window_start, record.window_end
    if start is None or end is None:
        return _NO_WINDOW  # R1: ineligible, or a cancellation
    status = record.status
    if status is not _ACTIVE:  # R3/R4 closed it unused
        return _CANCELLED if status is Status.CANCELLED else _SUPERSEDED
    ended = record.ended_at
    if ended is not None and received_at >= ended:
        return _ENDED  # spec §12: ended by an operator before this AD1 was received
    if not start - skew <= outage_at < end:
        return _OUTSIDE
    return _CONTAINS
