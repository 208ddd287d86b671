"""What of the Suppression Log and the forwarded AD1s retention purges (spec §15), and what it
never purges: an entry whose window may still suppress, an unreleased entry a guard may still
release (its ``event_at`` within the guards' reach, or a verification still pending for it), and
an AD1 whose delivery is still pending or being retried. Repeats of a decided alert_id age with
ignored input. Purged alert_ids are forgotten: an AD1 sent again after its retention is decided
again (docs/decisions.md)."""

from __future__ import annotations

from poagate.store.purge import Purge

_PENDING_DELIVERY = (
    "EXISTS (SELECT 1 FROM outbox o WHERE o.alert_id = ad1_outcomes.alert_id "
    "AND o.status = 'pending')"
)
_PENDING_VERIFICATION = (
    "EXISTS (SELECT 1 FROM verifications v WHERE v.alert_id = ad1_outcomes.alert_id "
    "AND v.outcome = 'pending')"
)


def purges(now: int, guards_from: int) -> tuple[Purge, ...]:
    """The kinds purged from ``ad1_outcomes`` and ``ad1_duplicates``: ``now`` and
    ``guards_from`` (the earliest ``event_at`` a guard in force may still release) in
    microseconds."""
    return (
        Purge(
            "suppression_log",
            "ad1_outcomes",
            "seq",
            "received_at",
            rows="suppressed = 1",
            keep=f"window_end >= ? OR {_PENDING_DELIVERY} OR (released_at IS NULL AND "
            f"(event_at >= ? OR {_PENDING_VERIFICATION}))",
            keep_params=(now, guards_from),
        ),
        Purge(
            "forwarded",
            "ad1_outcomes",
            "seq",
            "received_at",
            rows="suppressed = 0",
            keep=_PENDING_DELIVERY,
        ),
        Purge("inputs", "ad1_duplicates", "seq", "received_at"),
    )
