"""The transactional outbox: forwarded AD1s queued with their decision, claimed by the delivery
workers of every server process, and settled (delivered, retried, dead).

A claim is made in a serialised transaction and lasts a lease, so a message is attempted by one
worker at a time, and by another only if its claimer died. For each CHF only its oldest message
not yet delivered is claimed, so a DNO receives each hub's alerts in order. Messages age by
``created_at`` (``TABLES``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from poagate.domain.values import value
from poagate.formats.timestamps import from_us, to_us
from poagate.store.access import Audit
from poagate.store.purge import Purge
from poagate.store.sqlbase import Database, Insert, Kept

TABLES = (Kept("outbox", "created_at"),)

OUTBOX = Insert(
    "outbox",
    (
        "alert_id",
        "network_operator",
        "chf_id",
        "content_type",
        "payload",
        "created_at",
        "next_attempt_at",
        "status",
        "attempts",
        "due_since",
    ),
)
_STATE = (
    "SELECT id, alert_id, network_operator, chf_id, status, attempts, next_attempt_at, "
    "last_error, created_at, delivered_at FROM outbox"
)
ERROR_LIMIT = 2000  # characters of a failure kept on the message
_ONE_US = timedelta(microseconds=1)


@value
class OutboundMessage:
    """An AD1's original message queued for its DNO's webhook with its decision: ``pending`` when
    it was forwarded, ``held`` when it was suppressed and a guard may yet release it."""

    alert_id: str
    network_operator: str
    chf_id: str
    content_type: str
    payload: bytes
    status: str  # pending or held


@value
class Delivery:
    """A forwarded AD1 on its way to its DNO's webhook."""

    id: int
    alert_id: str
    network_operator: str
    chf_id: str
    content_type: str
    payload: bytes
    attempts: int
    due_since: datetime  # when its retrying began (spec §18: retried for retry_for_hours)


@value
class DeliveryState:
    """Where one queued message stands (what DCC operations list)."""

    id: int
    alert_id: str
    network_operator: str
    chf_id: str
    status: str  # pending, held, delivered or dead
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class Outbox:
    """See the module docstring."""

    def __init__(self, db: Database, audit: Audit) -> None:
        self._db = db
        self._audit = audit

    def enqueue(self, messages: Sequence[OutboundMessage], at: datetime) -> None:
        """Queue messages (inside the decision's transaction), due from ``at``."""
        moment = to_us(at)
        self._db.insert(
            OUTBOX,
            [
                (
                    m.alert_id,
                    m.network_operator,
                    m.chf_id,
                    m.content_type,
                    m.payload,
                    moment,
                    moment,
                    m.status,
                    0,
                    moment,
                )
                for m in messages
            ],
        )

    def release(self, alert_ids: Sequence[str], at: datetime) -> None:
        """Released AD1s (spec §9): their held messages are due for delivery from ``at``."""
        if alert_ids:
            db = self._db
            db.run(
                "UPDATE outbox SET status = 'pending', next_attempt_at = ?, due_since = ? "
                "WHERE {in:alert_id} AND status = 'held'",
                (to_us(at), to_us(at), db.list_param(alert_ids)),
            )

    def due_operators(self, now: datetime) -> list[str]:
        """The network operators with a message due and not claimed: each gets a delivery
        lane of its own (``poagate.delivery.worker``)."""
        moment = to_us(now)
        rows = self._db.fetch(
            "SELECT DISTINCT network_operator FROM outbox "
            "WHERE status = 'pending' AND next_attempt_at <= ? "
            "AND (lease_until IS NULL OR lease_until <= ?)",
            (moment, moment),
        )
        return sorted(str(r[0]) for r in rows)

    def claim(
        self, now: datetime, lease: timedelta, limit: int, network_operator: str | None = None
    ) -> list[Delivery]:
        """Claim messages that are due (see the module docstring), of one network operator
        when ``network_operator`` is given."""
        db = self._db
        moment = to_us(now)
        # The DNO's pending messages in queue order, from the first of them: revision 0012's
        # index. The outbox keeps what it delivered, and PostgreSQL, believing the pending
        # messages spread evenly, walked the queue by id from its start when it could
        # (tests/integration/test_pg_plans.py): the DNO named as a range, not a constant, keeps
        # the order by (network_operator, id), which only that index gives.
        operator = "" if network_operator is None else "AND o.network_operator BETWEEN ? AND ? "
        order = "o.id" if network_operator is None else "o.network_operator, o.id"
        params: tuple[Any, ...] = (moment, moment)
        if network_operator is not None:
            params += (network_operator, network_operator)
        with db.transaction():
            rows = db.fetch(
                "SELECT o.id, o.alert_id, o.network_operator, o.chf_id, o.content_type, "
                "o.payload, o.attempts, COALESCE(o.due_since, o.created_at) FROM outbox o "
                "WHERE o.status = 'pending' AND o.next_attempt_at <= ? "
                "AND (o.lease_until IS NULL OR o.lease_until <= ?) "
                f"{operator}"
                "AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.chf_id = o.chf_id "
                "AND p.status = 'pending' AND p.id < o.id) "
                f"ORDER BY {order} LIMIT {int(limit)}",
                params,
            )
            if rows:
                db.run(
                    "UPDATE outbox SET lease_until = ? WHERE {in:id}",
                    (moment + lease // _ONE_US, db.list_param([r[0] for r in rows])),
                )
        return [
            Delivery(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), r[6], from_us(r[7])) for r in rows
        ]

    def delivered(self, delivery_ids: Sequence[int], at: datetime) -> None:
        """Record deliveries made (a round's, in one statement)."""
        if not delivery_ids:
            return
        db = self._db
        with db.transaction():
            db.run(
                "UPDATE outbox SET status = 'delivered', delivered_at = ?, lease_until = NULL, "
                "attempts = attempts + 1 WHERE {in:id}",
                (to_us(at), db.list_param(list(delivery_ids))),
            )

    def failed(self, delivery_id: int, error: str, retry_at: datetime | None) -> None:
        """Record a failed attempt: due again at ``retry_at``, or dead (None)."""
        with self._db.transaction():
            if retry_at is None:
                self._db.run(
                    "UPDATE outbox SET status = 'dead', last_error = ?, lease_until = NULL, "
                    "attempts = attempts + 1 WHERE id = ?",
                    (error[:ERROR_LIMIT], delivery_id),
                )
            else:
                self._db.run(
                    "UPDATE outbox SET next_attempt_at = ?, last_error = ?, lease_until = NULL, "
                    "attempts = attempts + 1 WHERE id = ?",
                    (to_us(retry_at), error[:ERROR_LIMIT], delivery_id),
                )

    def listing(self, status: str, after_id: int = 0, limit: int = 100) -> list[DeliveryState]:
        rows = self._db.fetch(
            f"{_STATE} WHERE status = ? AND id > ? ORDER BY id LIMIT {int(limit)}",
            (status, after_id),
        )
        return [_delivery_state(r) for r in rows]

    def state_of(self, alert_id: str) -> DeliveryState | None:
        """Where an AD1's message for its DNO's webhook stands (None: none was queued)."""
        row = self._db.one(f"{_STATE} WHERE alert_id = ? ORDER BY id DESC LIMIT 1", (alert_id,))
        return None if row is None else _delivery_state(row)

    def retry(self, delivery_id: int, at: datetime, actor: str) -> bool:
        """Send a dead message again (an operator's act, audited)."""
        db = self._db
        with db.transaction():
            found = db.scalar(
                "SELECT id FROM outbox WHERE id = ? AND status = 'dead'", (delivery_id,)
            )
            if found is None:
                return False
            db.run(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, "
                "due_since = ?, lease_until = NULL WHERE id = ?",
                (to_us(at), to_us(at), delivery_id),
            )
            self._audit.record(at, actor, "delivery.retry", {"delivery": delivery_id})
        return True

    def retry_dead(
        self,
        network_operator: str | None,
        since: datetime | None,
        until: datetime | None,
        at: datetime,
        actor: str,
    ) -> int:
        """Send again every dead message of ``network_operator`` (None: every DNO's) queued in
        [since, until) (either end open when None): an operator's act, audited as one entry.
        Each is retried from ``at`` for ``retry_for_hours`` again; each hub's stay in order
        (they keep their place in the queue). How many."""
        db = self._db
        where: list[str] = ["status = 'dead'"]
        params: list[Any] = []
        if network_operator is not None:
            where.append("network_operator = ?")
            params.append(network_operator)
        if since is not None:
            where.append("created_at >= ?")
            params.append(to_us(since))
        if until is not None:
            where.append("created_at < ?")
            params.append(to_us(until))
        moment = to_us(at)
        with db.transaction():
            count = int(
                db.scalar("SELECT COUNT(*) FROM outbox WHERE " + " AND ".join(where), params)
            )
            if count:
                db.run(
                    "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, "
                    "due_since = ?, lease_until = NULL WHERE " + " AND ".join(where),
                    (moment, moment, *params),
                )
            detail = {
                "network_operator": network_operator,
                "from": None if since is None else since.isoformat(),
                "to": None if until is None else until.isoformat(),
                "retried": count,
            }
            self._audit.record(at, actor, "delivery.retry", detail)
        return count

    def counts(self) -> dict[str, int]:
        """Messages by status."""
        return {
            status: int(n)
            for status, n in self._db.fetch("SELECT status, COUNT(*) FROM outbox GROUP BY status")
        }


def _delivery_state(r: tuple[Any, ...]) -> DeliveryState:
    return DeliveryState(
        id=r[0],
        alert_id=r[1],
        network_operator=r[2],
        chf_id=r[3],
        status=r[4],
        attempts=r[5],
        next_attempt_at=from_us(r[6]),
        last_error=r[7],
        created_at=from_us(r[8]),
        delivered_at=None if r[9] is None else from_us(r[9]),
    )


def purges() -> tuple[Purge, ...]:
    """What retention purges of the outbox (spec §15): delivered and dead messages (never one
    pending or being retried, which holds the purge's place until it is settled), and a held
    message once its Suppression Log entry is gone (after the Suppression Log's retention)."""
    return (
        Purge(
            "deliveries",
            "outbox",
            "id",
            "created_at",
            rows="status <> 'held'",
            keep="status NOT IN ('delivered', 'dead')",
        ),
        Purge(
            "suppression_log",
            "outbox",
            "id",
            "created_at",
            rows="status = 'held'",
            keep="EXISTS (SELECT 1 FROM ad1_outcomes a WHERE a.alert_id = outbox.alert_id)",
        ),
    )
