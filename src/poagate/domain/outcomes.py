"""What the gate decides and hands out: activation records, Suppression Log entries, forwarded
and duplicate AD1s (spec §7), and the reasons they carry.

These are values the rest of poagate stores, outputs and serves; the gate (``gate.py``) and the
guards (``guards.py``) both produce them, so they live here, beside neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from poagate.domain.events import ActivationKind, ActivationOutcome, DeviceMessage
from poagate.domain.rules import Reason
from poagate.domain.values import value

FORWARD_REASON = "no_active_window"
SUPPRESSION_RULE = "firmware_activation_window"
# spec §9 guards' release reasons (and area-outage's forward reason).
NO_SIGN_OF_LIFE = "no_sign_of_life"
AREA_OUTAGE_EVIDENCE = "area_outage_evidence"
# spec §12 incident controls: the forward reason while suppression is suspended, and the
# release reason of an operator's release.
SUPPRESSION_SUSPENDED = "suppression_suspended"
OPERATOR = "operator"


class WindowVerdict(StrEnum):
    """How a window stood for one AD1 (``gate.window_verdict``), in the order it is checked."""

    NO_WINDOW = "no_window"  # the activation opened none: its reason says why (R1)
    CANCELLED = "cancelled"  # R4 closed it unused
    SUPERSEDED = "superseded"  # R3 closed it unused
    ENDED = "ended"  # an operator ended it before the AD1 was received (spec §12)
    OUTSIDE = "outside"  # it does not contain the AD1's outage time
    CONTAINS = "contains"  # it contains the outage time: R5 may choose it


# spec §14 verification guard's release reason.
NO_ANSWER_TO_VERIFICATION = "no_answer_to_verification"


class Status(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"


@dataclass(slots=True)
class ActivationRecord:
    """One ``request_id``: the activation record of spec §7 plus what the gate needs to judge.

    This is the gate's own mutable state: repeats move ``window_end`` (R2) and R3/R4 change
    ``status``. Everything it hands out about a window (a log entry) is copied at that moment.
    """

    request_id: str
    device_id: str
    originator: str
    kind: ActivationKind
    received_at: datetime  # the first received_at of this request_id
    execution_at: datetime | None
    chf_id: str | None
    reason: Reason
    status: Status
    window_start: datetime | None
    window_end: datetime | None
    guid_list_version: int | None
    # The ESME's MPAN and network operator when the activation was first seen (R8).
    mpan: str | None
    network_operator: str
    last_received_at: datetime
    repeats: int = 0
    command_variant: int | None = None
    firmware_hash: str | None = None
    # spec §12: when an operator ended the window; it suppresses nothing received from then on.
    ended_at: datetime | None = None

    @property
    def eligible(self) -> bool:
        return self.reason is Reason.ELIGIBLE


@value
class SuppressionEntry:
    """A Suppression Log entry (spec §7); field names and order are the output's."""

    alert_id: str
    chf_id: str
    esme_id: str
    mpan: str | None
    network_operator: str
    event_at: datetime
    received_at: datetime
    decided_at: datetime
    activation_request_id: str
    activation_originator: str
    window_start: datetime
    window_end: datetime
    rule: str = SUPPRESSION_RULE
    released_at: datetime | None = None
    release_reason: str | None = None


@value
class ForwardedAlert:
    """An AD1 sent on to the DNO (spec §7)."""

    alert_id: str
    chf_id: str
    network_operator: str
    event_at: datetime
    received_at: datetime
    decided_at: datetime
    reason: str = FORWARD_REASON


@value
class DuplicateAlert:
    """A repeated ``alert_id`` (R6): changes nothing, counted."""

    alert_id: str
    chf_id: str
    received_at: datetime


@value
class ActivationApplied:
    """The activation records an 11.3 created or changed, the event's own record first."""

    records: tuple[ActivationRecord, ...]
    repeat: bool


def released_as_forwarded(entry: SuppressionEntry) -> ForwardedAlert:
    """A released entry as the forwarded AD1 its DNO receives late (spec §9): decided at its
    release, with the release's reason."""
    assert entry.released_at is not None
    return ForwardedAlert(
        entry.alert_id,
        entry.chf_id,
        entry.network_operator,
        entry.event_at,
        entry.received_at,
        entry.released_at,
        entry.release_reason or "released",
    )


Ad1Outcome = SuppressionEntry | ForwardedAlert | DuplicateAlert
Outcome = Ad1Outcome | ActivationApplied | ActivationOutcome | DeviceMessage
