"""What the gate did, counted in this process: messages and outcomes by kind, how long decisions
take, releases by reason, and the release-if-dark and verification passes."""

from __future__ import annotations

import collections

from prometheus_client import Counter, Histogram

from poagate.api.answers import message_type, outcome_name
from poagate.domain.outcomes import SuppressionEntry
from poagate.service.ingest import ItemResult
from poagate.service.maintenance import MaintenancePass
from poagate.service.verifications import VerificationPass

MESSAGES = Counter("poagate_messages_total", "Messages received, by type.", ["type"])
OUTCOMES = Counter("poagate_outcomes_total", "Outcomes of messages, by outcome.", ["outcome"])
DECISION_SECONDS = Histogram(
    "poagate_decision_seconds",
    "From a request's arrival to its decisions being durable.",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
GROUP_SECONDS = Histogram(
    "poagate_group_transaction_seconds",
    "One group-commit transaction: load, decide, write, commit.",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
RELEASE_PASSES = Counter(
    "poagate_release_passes_total",
    "release-if-dark passes this server has completed, whatever they found.",
)
RELEASES = Counter(
    "poagate_ad1_released_total",
    "Suppressed AD1s released to their DNO by a guard, by release_reason.",
    ["reason"],
)


VERIFICATION_PASSES = Counter(
    "poagate_verification_passes_total",
    "Verification passes this server has completed, whatever they found.",
)
VERIFICATION_SKIPPED = Counter(
    "poagate_verification_passes_skipped_total",
    "Verification passes this server left to another server's pass begun less than half an "
    "interval before (counted in poagate_verification_passes_total too).",
)
VERIFICATION_REQUESTS = Counter(
    "poagate_verification_requests_total",
    "Verification requests sent to the DSP, by attempt.",
    ["attempt"],
)
VERIFICATION_SETTLED = Counter(
    "poagate_verification_settled_total",
    "Verification requests settled, by outcome: answered, expired, withdrawn.",
    ["outcome"],
)
VERIFICATION_PUSHED = Counter(
    "poagate_verification_pushed_total",
    "Verification requests the DSP's webhook took.",
)


MAINTENANCE_PASSES = Counter(
    "poagate_maintenance_passes_total", "Maintenance passes this server has made (spec §15)."
)
MAINTENANCE_PURGED = Counter(
    "poagate_maintenance_purged_rows_total",
    "Rows purged past their retention by this server's maintenance passes, by kind "
    "(reference_versions: versions).",
    ["kind"],
)


def observe_maintenance(done: MaintenancePass) -> None:
    """Count what a maintenance pass purged (a ``service.maintenance.MaintenancePass``)."""
    MAINTENANCE_PASSES.inc()
    for kind, rows in done.purged.items():
        MAINTENANCE_PURGED.labels(kind).inc(rows)


def observe_verifications(done: VerificationPass) -> None:
    """Count what a verification pass did (a ``service.verifications.VerificationPass``); its
    releases are counted by ``observe_releases``."""
    if done.skipped:
        VERIFICATION_SKIPPED.inc()
    for attempt, count in collections.Counter(r.attempt for r in done.requested).items():
        VERIFICATION_REQUESTS.labels(str(attempt)).inc(count)
    for outcome in ("answered", "expired", "withdrawn"):
        if getattr(done, outcome):
            VERIFICATION_SETTLED.labels(outcome).inc(getattr(done, outcome))
    if done.released:
        observe_releases(done.released)


def observe_group(results: list[ItemResult], seconds: float) -> None:
    """Count a group's messages and outcomes: one increment a label, not one an item."""
    GROUP_SECONDS.observe(seconds)
    outcomes = collections.Counter(outcome_name(r) for r in results)
    kinds = collections.Counter(message_type(r) for r in results)
    for outcome, count in outcomes.items():
        OUTCOMES.labels(outcome).inc(count)
    for kind, count in kinds.items():
        MESSAGES.labels(kind).inc(count)


def observe_releases(released: list[SuppressionEntry]) -> None:
    for reason, count in collections.Counter(e.release_reason for e in released).items():
        RELEASES.labels(reason or "").inc(count)
