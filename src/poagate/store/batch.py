"""What a unit of work writes: the outcomes of consecutive events (``Batch``), and the same as
table rows (``Rows``), committed together or not at all.

A ``Rows`` is plain tuples of ints and strings, picklable, with sentinels where a value is NULL
(``sqlbase.NULL_INT``), so a replay can prepare it in one process and write it in another
(``poagate.service.writer``); nothing above the store looks inside one. Each part is encoded and
written by the concept whose table it goes to (``alerts``, ``activations``, ``signs``,
``inputs``, ``verifications``); this module only gathers them into one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
from poagate.store import activations, inputs, signs, verifications
from poagate.store.alerts import rows as alerts
from poagate.store.sqlbase import Database


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


@dataclass(slots=True)
class Rows:
    """What one transaction of decisions writes, as table rows (see the module docstring).
    ``next_seq`` follows the last AD1 and the last release. (Reference data is loaded by
    ``poagate.store.reference`` in transactions of its own.)
    """

    forwarded: list[tuple[Any, ...]] = field(default_factory=list)
    suppressed: list[tuple[Any, ...]] = field(default_factory=list)
    activations: list[tuple[Any, ...]] = field(default_factory=list)
    duplicates: list[tuple[Any, ...]] = field(default_factory=list)
    activation_outcomes: list[tuple[Any, ...]] = field(default_factory=list)
    device_messages: list[tuple[Any, ...]] = field(default_factory=list)
    ignored: list[tuple[Any, ...]] = field(default_factory=list)
    rejected: list[tuple[Any, ...]] = field(default_factory=list)
    progress: list[tuple[int, int]] = field(default_factory=list)  # (events_done, source id)
    # (released_at, release_reason, feed_seq, alert_id)
    releases: list[tuple[int, str, int, str]] = field(default_factory=list)
    next_seq: int = 0
    # spec §14 requests (``poagate.store.verifications.VERIFICATION_COLUMNS``)
    verifications: list[tuple[Any, ...]] = field(default_factory=list)


def encode_batch(
    batch: Batch, next_seq: int, sector_of: Callable[[str], str | None] | None = None
) -> Rows:
    """The batch as rows: its AD1 outcomes numbered from ``next_seq`` in decision order, then
    its releases, each given the next number as its place in the feed. ``sector_of`` gives
    each outcome's sector (left NULL without it)."""
    forwarded, suppressed, seq = alerts.encode_outcomes(batch.ad1_outcomes, next_seq, sector_of)
    releases, seq = alerts.encode_releases(batch.releases, seq)
    return Rows(
        forwarded=forwarded,
        suppressed=suppressed,
        activations=[activations.encode_activation(r) for r in batch.activations.values()],
        duplicates=alerts.encode_duplicates(batch.duplicates),
        activation_outcomes=signs.encode_activation_outcomes(batch.activation_outcomes),
        device_messages=signs.encode_device_messages(batch.device_messages),
        ignored=inputs.encode_ignored(batch.ignored),
        rejected=[row for kind, r in batch.rejected for row in inputs.encode_rejected(kind, (r,))],
        progress=[(done, source_id) for source_id, done in batch.progress.items()],
        releases=releases,
        next_seq=seq,
        verifications=[verifications.encode_verification(r) for r in batch.verifications],
    )


def write_rows(db: Database, rows: Rows) -> None:
    """Write prepared rows in one transaction (or in the one already open)."""
    with db.transaction():
        alerts.write(db, rows.forwarded, rows.suppressed, rows.duplicates, rows.releases)
        activations.write(db, rows.activations)
        signs.write(db, rows.activation_outcomes, rows.device_messages)
        inputs.write(db, rows.ignored, rows.rejected, rows.progress)
        verifications.write(db, rows.verifications)  # spec §14, in the order sent
