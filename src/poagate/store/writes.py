"""Writing a unit of work: every insert and update a transaction of decisions makes, from
``Rows`` (``poagate.store.codec``) prepared beforehand; and the statements reference loads share.

A ``Rows`` is plain tuples, so a replay can prepare it in one process and write it in another
(``poagate.service.writer``); nothing above the store looks inside one.
"""

from __future__ import annotations

from poagate.store.codec import (
    ACTIVATION_COLUMNS,
    ACTIVATION_MUTABLE,
    ACTIVATION_NULLABLE_INT,
    ACTIVATION_NULLABLE_TEXT,
    DEVICE_COLUMNS,
    DEVICE_NULLABLE_TEXT,
    FORWARDED_COLUMNS,
    SUPPRESSED_COLUMNS,
    Rows,
)
from poagate.store.sqlbase import Database, Insert, values_clause
from poagate.store.verifications import UPSERT_VERIFICATION

FORWARDED = Insert("ad1_outcomes", FORWARDED_COLUMNS, nullable_text=frozenset({"sector"}))
SUPPRESSED = Insert("ad1_outcomes", SUPPRESSED_COLUMNS, nullable_text=frozenset({"mpan", "sector"}))
DUPLICATES = Insert(
    "ad1_duplicates",
    ("alert_id", "chf_id", "received_at", "source", "line"),
    frozenset({"line"}),
    frozenset({"source"}),
)
ACTIVATION_OUTCOMES = Insert(
    "activation_outcomes",
    ("device_id", "received_at", "request_id", "success"),
    frozenset({"success"}),
    frozenset({"request_id"}),
)
DEVICE_MESSAGES = Insert("device_messages", ("device_id", "received_at"))
IGNORED = Insert(
    "ignored_inputs",
    ("received_at", "what", "source", "line"),
    frozenset({"line"}),
    frozenset({"source"}),
)
REJECTED = Insert(
    "rejected_inputs", ("kind", "source", "line", "error", "raw"), frozenset({"line"})
)
_ACTIVATION_VALUES = values_clause(
    ACTIVATION_COLUMNS, ACTIVATION_NULLABLE_INT, ACTIVATION_NULLABLE_TEXT
)
UPSERT_ACTIVATION = (
    f"INSERT INTO activations ({','.join(ACTIVATION_COLUMNS)}) "
    f"VALUES ({_ACTIVATION_VALUES}) "
    "ON CONFLICT (request_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in ACTIVATION_MUTABLE)
)
UPSERT_DEVICE = (
    f"INSERT INTO devices ({','.join(DEVICE_COLUMNS)}, load_id) "
    f"VALUES ({values_clause(DEVICE_COLUMNS, nullable_text=DEVICE_NULLABLE_TEXT)}, ?) "
    "ON CONFLICT (device_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in (*DEVICE_COLUMNS[1:], "load_id"))
)


def write_rows(db: Database, rows: Rows) -> None:
    """Write prepared rows in one transaction (or in the one already open)."""
    with db.transaction():
        many = db.run_many
        insert = db.insert
        # A repeated alert_id here would be a bug upstream; UNIQUE(alert_id) stops it (R6).
        insert(FORWARDED, rows.forwarded)
        insert(SUPPRESSED, rows.suppressed)
        if rows.activations:
            many(UPSERT_ACTIVATION, rows.activations)
        insert(DUPLICATES, rows.duplicates)
        insert(ACTIVATION_OUTCOMES, rows.activation_outcomes)
        insert(DEVICE_MESSAGES, rows.device_messages)
        insert(IGNORED, rows.ignored)
        insert(REJECTED, rows.rejected)
        if rows.releases:
            # spec §7: an entry is never edited except to record its (one) release.
            many(
                "UPDATE ad1_outcomes SET released_at = ?, release_reason = ?, feed_seq = ? "
                "WHERE alert_id = ? AND suppressed = 1 AND released_at IS NULL",
                rows.releases,
            )
        if rows.verifications:
            many(UPSERT_VERIFICATION, rows.verifications)  # spec §14, in the order sent
        if rows.progress:
            many("UPDATE sources SET events_done = ? WHERE id = ?", rows.progress)
