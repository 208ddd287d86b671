"""The verification guard's requests (spec §14): one row an attempt to verify a suppressed AD1's
site, from when it is sent until it is answered, expires, ends in a release or is withdrawn.

A replay writes them with its batches (``Rows.verifications``, upserted by alert and attempt, so
a resumed replay that sends a request again changes nothing); the service's verification pass
(``poagate.service.verifications``) writes them in its own transaction. The DSP reads the
pending ones as its queue (``queue``), and the optional push to its webhook takes the ones not
yet pushed (``unpushed``). Requests age by ``requested_at`` (``TABLES``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from poagate.domain.verification import VerificationOutcome, VerificationRequest
from poagate.formats.timestamps import from_us, to_us
from poagate.store.purge import Purge
from poagate.store.schema import PENDING_VERIFICATIONS
from poagate.store.sqlbase import NULL_INT, Database, Kept, opt_from_us, values_clause

TABLES = (Kept("verifications", "requested_at"),)

# spec §14: a verification request's row (``verifications``), in this order.
VERIFICATION_COLUMNS = (
    "alert_id",
    "attempt",
    "chf_id",
    "esme_id",
    "requested_at",
    "deadline",
    "settled_at",
    "outcome",
)


def encode_verification(r: VerificationRequest) -> tuple[Any, ...]:
    """A row of ``VERIFICATION_COLUMNS``; ``settled_at`` NULL as ``NULL_INT``."""
    return (
        r.alert_id,
        r.attempt,
        r.chf_id,
        r.esme_id,
        to_us(r.requested_at),
        to_us(r.deadline),
        NULL_INT if r.settled_at is None else to_us(r.settled_at),
        r.outcome.value,
    )


def decode_verification(row: Sequence[Any]) -> VerificationRequest:
    """A row selected with ``VERIFICATION_COLUMNS`` in that order."""
    return VerificationRequest(
        alert_id=row[0],
        attempt=row[1],
        chf_id=row[2],
        esme_id=row[3],
        requested_at=from_us(row[4]),
        deadline=from_us(row[5]),
        settled_at=opt_from_us(row[6]),
        outcome=VerificationOutcome(row[7]),
    )


_COLUMNS = ",".join(VERIFICATION_COLUMNS)
# An attempt is issued once (UNIQUE(alert_id, attempt)); writing it again records how it ended.
UPSERT_VERIFICATION = (
    f"INSERT INTO verifications ({_COLUMNS}) "
    f"VALUES ({values_clause(VERIFICATION_COLUMNS, nullable_int=('settled_at',))}) "
    "ON CONFLICT (alert_id, attempt) DO UPDATE SET "
    "settled_at = excluded.settled_at, outcome = excluded.outcome"
)


def write(db: Database, rows: Sequence[tuple[Any, ...]]) -> None:
    """Record requests sent and how requests ended (rows of ``VERIFICATION_COLUMNS``, in the
    order sent), inside the caller's transaction."""
    if rows:
        db.run_many(UPSERT_VERIFICATION, rows)


class Verifications:
    """See the module docstring."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def all(self) -> Iterator[VerificationRequest]:
        """Every request, in the order they were sent."""
        for row in self._db.stream(
            f"SELECT {_COLUMNS} FROM verifications ORDER BY requested_at, alert_id, attempt"
        ):
            yield decode_verification(row)

    def of_alerts(self, alert_ids: Sequence[str]) -> list[VerificationRequest]:
        """The requests of these alerts, each alert's in attempt order."""
        db = self._db
        if db.dialect == "postgresql":
            # An index probe an alert (OFFSET 0 keeps the subquery from being flattened): with
            # ``= ANY``, PostgreSQL scanned every request kept once a pass asked about a few
            # hundred alerts, a cost growing with history (the soak: 0.1 to 6.9 ms in 30 min).
            rows = db.fetch(
                f"SELECT r.* FROM unnest(?::text[]) AS a(id) CROSS JOIN LATERAL "
                f"(SELECT {_COLUMNS} FROM verifications WHERE alert_id = a.id OFFSET 0) AS r "
                "ORDER BY r.alert_id, r.attempt",
                (list(alert_ids),),
            )
        else:
            rows = db.fetch(
                f"SELECT {_COLUMNS} FROM verifications WHERE {{in:alert_id}} "
                "ORDER BY alert_id, attempt",
                (db.list_param(alert_ids),),
            )
        return [decode_verification(row) for row in rows]

    def pending_of_released(self) -> list[VerificationRequest]:
        """Pending requests whose entry was released otherwise (to be withdrawn)."""
        columns = ",".join("v." + c for c in VERIFICATION_COLUMNS)
        if self._db.dialect == "postgresql":
            # An index probe of the outcomes a pending request (LIMIT keeps the subquery from
            # being flattened): as a join, PostgreSQL hashed every released outcome kept, a
            # sequential scan of the whole table at every verification pass, under the lock.
            sql = (
                f"SELECT {columns} FROM verifications v CROSS JOIN LATERAL (SELECT 1 FROM "
                "ad1_outcomes o WHERE o.alert_id = v.alert_id AND o.released_at IS NOT NULL "
                f"LIMIT 1) AS r WHERE v.{PENDING_VERIFICATIONS}"
            )
        else:
            sql = (
                f"SELECT {columns} FROM verifications v "
                "JOIN ad1_outcomes o ON o.alert_id = v.alert_id "
                f"WHERE v.{PENDING_VERIFICATIONS} AND o.released_at IS NOT NULL"
            )
        return [decode_verification(row) for row in self._db.fetch(sql)]

    def queue(self, after_id: int, limit: int) -> list[tuple[int, VerificationRequest]]:
        """The DSP's queue: pending requests after ``after_id``, oldest first."""
        rows = self._db.fetch(
            f"SELECT id, {_COLUMNS} FROM verifications WHERE {PENDING_VERIFICATIONS} "
            "AND id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        )
        return [(row[0], decode_verification(row[1:])) for row in rows]

    def listing(self, after_id: int, limit: int) -> list[tuple[int, VerificationRequest]]:
        """Every request after ``after_id``, in the order they were written."""
        rows = self._db.fetch(
            f"SELECT id, {_COLUMNS} FROM verifications WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        )
        return [(row[0], decode_verification(row[1:])) for row in rows]

    def id_of(self, alert_id: str, attempt: int) -> int | None:
        value = self._db.scalar(
            "SELECT id FROM verifications WHERE alert_id = ? AND attempt = ?", (alert_id, attempt)
        )
        return None if value is None else int(value)

    def unpushed(self, limit: int) -> list[tuple[int, VerificationRequest]]:
        """Pending requests not yet pushed to the DSP's webhook, oldest first."""
        rows = self._db.fetch(
            f"SELECT id, {_COLUMNS} FROM verifications WHERE {PENDING_VERIFICATIONS} "
            "AND pushed_at IS NULL ORDER BY id LIMIT ?",
            (limit,),
        )
        return [(row[0], decode_verification(row[1:])) for row in rows]

    def mark_pushed(self, ids: Sequence[int], at: datetime) -> None:
        db = self._db
        with db.transaction():
            db.run(
                "UPDATE verifications SET pushed_at = ? WHERE {in:id}",
                (to_us(at), db.list_param(list(ids))),
            )

    def queue_figures(self) -> tuple[int, datetime | None]:
        """How many requests are pending, and when the oldest was sent (for metrics)."""
        row = self._db.one(
            f"SELECT COUNT(*), MIN(requested_at) FROM verifications WHERE {PENDING_VERIFICATIONS}"
        )
        assert row is not None
        return int(row[0]), None if row[1] is None else from_us(row[1])

    def counts(self) -> dict[str, int]:
        """Requests made, and how many ended each way (``summary.json``)."""
        found = dict(self._db.fetch("SELECT outcome, COUNT(*) FROM verifications GROUP BY outcome"))
        figures = {"verifications_requested": sum(int(n) for n in found.values())}
        for outcome in VerificationOutcome:
            figures[f"verifications_{outcome.value}"] = int(found.get(outcome.value, 0))
        return figures


def purges() -> tuple[Purge, ...]:
    """What retention purges of the verification requests (spec §15): settled ones, with the
    Suppression Log entries they were made for; a pending request never."""
    return (
        Purge(
            "suppression_log",
            "verifications",
            "id",
            "requested_at",
            keep=PENDING_VERIFICATIONS,
        ),
    )
