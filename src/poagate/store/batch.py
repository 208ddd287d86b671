"""The unit of work: the outcomes of consecutive events, committed together or not at all."""

from __future__ import annotations

from dataclasses import dataclass, field

from poagate.domain.events import ActivationOutcome, DeviceMessage, Ignored
from poagate.domain.outcomes import (
    ActivationApplied,
    ActivationRecord,
    DuplicateAlert,
    ForwardedAlert,
    Outcome,
    SuppressionEntry,
)
from poagate.domain.verification import VerificationRequest
from poagate.formats.errors import Rejection


@dataclass(slots=True)
class Batch:
    """The outcomes of consecutive events, to be committed together."""

    ad1_outcomes: list[SuppressionEntry | ForwardedAlert] = field(default_factory=list)
    duplicates: list[tuple[DuplicateAlert, str | None, int | None]] = field(default_factory=list)
    activations: dict[str, ActivationRecord] = field(default_factory=dict)
    activation_outcomes: list[ActivationOutcome] = field(default_factory=list)
    device_messages: list[DeviceMessage] = field(default_factory=list)
    ignored: list[tuple[Ignored, str | None, int | None]] = field(default_factory=list)
    rejected: list[tuple[str, Rejection]] = field(default_factory=list)
    progress: dict[int, int] = field(default_factory=dict)  # source id -> events_done
    # Suppression Log entries a guard released (spec §9), each with released_at and reason.
    releases: list[SuppressionEntry] = field(default_factory=list)
    # spec §14 verification requests sent or settled, in order (a later state of the same
    # attempt replaces the earlier one).
    verifications: list[VerificationRequest] = field(default_factory=list)
    events: int = 0

    def add(self, outcome: Outcome, source: str | None = None, line: int | None = None) -> None:
        self.events += 1
        kind = type(outcome)
        if kind is ForwardedAlert or kind is SuppressionEntry:
            self.ad1_outcomes.append(outcome)  # type: ignore[arg-type]
        elif isinstance(outcome, ActivationApplied):
            for record in outcome.records:
                self.activations[record.request_id] = record
        elif isinstance(outcome, DuplicateAlert):
            self.duplicates.append((outcome, source, line))
        elif isinstance(outcome, ActivationOutcome):
            self.activation_outcomes.append(outcome)
        elif isinstance(outcome, DeviceMessage):
            self.device_messages.append(outcome)
        else:  # a new kind of outcome must be given a home here, never dropped
            raise TypeError(f"no table for outcome {outcome!r}")

    def add_ignored(self, ignored: Ignored, source: str | None, line: int | None) -> None:
        self.events += 1
        self.ignored.append((ignored, source, line))

    def add_rejected(self, rejection: Rejection, kind: str = "event") -> None:
        if kind == "event":
            self.events += 1
        self.rejected.append((kind, rejection))
