"""The events the gate consumes (spec §4), already validated and in canonical form.

Every timestamp is an aware ``datetime`` in UTC. The formats layer builds these from JSON Lines or
DUIS XML; nothing here reads bytes or the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from poagate.domain.values import value

# spec §4: an ExecutionDateTime on or after this instant marks a cancellation (DUIS sends
# 3000-12-31T00:00:00.00Z to cancel a pending future-dated activation).
CANCELLATION_THRESHOLD = datetime(3000, 1, 1, tzinfo=UTC)


class ActivationKind(StrEnum):
    IMMEDIATE = "immediate"
    FUTURE_DATED = "future_dated"
    CANCELLATION = "cancellation"


@value
class Activation:
    """An SRV 11.3 Activate Firmware request."""

    request_id: str  # canonical UserID:TargetDeviceID:Counter
    originator: str  # the UserID part
    device_id: str  # the target part: the ESME
    received_at: datetime
    execution_at: datetime | None = None
    command_variant: int | None = None
    firmware_hash: str | None = None

    @property
    def kind(self) -> ActivationKind:
        if self.execution_at is None:
            return ActivationKind.IMMEDIATE
        if self.execution_at >= CANCELLATION_THRESHOLD:
            return ActivationKind.CANCELLATION
        return ActivationKind.FUTURE_DATED


@value
class Ad1Alert:
    """A DCC Alert AD1 (Power Outage Event) for a CHF."""

    alert_id: str
    chf_id: str
    received_at: datetime
    event_at: datetime | None = None

    @property
    def outage_at(self) -> datetime:
        """The outage time the rules judge: ``event_at``, or ``received_at`` when absent."""
        return self.received_at if self.event_at is None else self.event_at


@value
class ActivationOutcome:
    """A response to an 11.3, or an 0x8F66 (success) / 0x8F67 (failure) alert."""

    device_id: str
    received_at: datetime
    request_id: str | None = None
    success: bool | None = None


@value
class DeviceMessage:
    """Any other message from a device: proof that its site had power at ``received_at``."""

    device_id: str
    received_at: datetime


Event = Activation | Ad1Alert | ActivationOutcome | DeviceMessage


@value
class Ignored:
    """A message that is read correctly but is not for the gate (counted, spec §6)."""

    received_at: datetime
    what: str  # e.g. "DUIS request 11.1", "DUIS response E65"
