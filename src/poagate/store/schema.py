"""The store's tables, defined once for every backend (Alembic migrates them).

Timestamps are integers: microseconds since 1970-01-01T00:00:00Z, UTC. They compare and index
cheaply on SQLite and PostgreSQL alike, and convert exactly to and from the domain's datetimes.

R6 is enforced here as well as in the gate: ``ad1_outcomes.alert_id`` is unique, and a
suppressed and a forwarded AD1 live in that one table, so no alert can have two outcomes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

# The Alembic revision this code expects; tests check it is the migrations' head.
SCHEMA_REVISION = "0012"

# Rolling upgrades (docs/architecture.md, "Migrations"): a schema change lands in two steps,
# add then (a release later) remove, so a server of the previous release keeps working on a
# schema one revision newer than its own. Each migration records in ``meta`` the oldest revision
# whose code still works on the schema it leaves (an additive migration leaves it unchanged; one
# that removes or renames sets it to itself). Code refuses a newer schema only when its own
# revision is older than that.
MIN_COMPATIBLE_KEY = "schema_min_compatible_revision"

# spec §15: a restore sets this meta key in its target before it writes anything and clears it
# last, so a restore that stopped part-way leaves a store that says so; no store with it set is
# opened (``sqlite.py``, ``postgres.py``), and ``poagate restore`` may run again over it.
RESTORE_MARKER_KEY = "restore_incomplete"


def incomplete_store(location: str, marker: str) -> str:
    """Why a store with the restore marker set is refused."""
    return (
        f"{location} is incomplete: a restore into it did not finish ({marker}); "
        "run poagate restore again (it may restore over this store without --force)"
    )


def newer_schema_usable(current: str, min_compatible: str | None) -> bool:
    """Whether this code may use a store whose schema (``current``) is newer than its own: only
    when the schema says code of this revision still works on it."""
    return (
        current > SCHEMA_REVISION
        and min_compatible is not None
        and (min_compatible <= SCHEMA_REVISION)
    )


metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

config_versions = Table(
    "config_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("set_at", BigInteger, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("body", Text, nullable=False),  # the configuration as JSON
)

# Every version of the inventory (revision 0006, spec §11): a full load (``kind`` full) replaces
# the devices in force with its file's, a change file (``changes``) amends the full load in force
# (``base``). A full load is staged beside the one in force while ``state`` is loading, and
# becomes the one in force (meta ``inventory_base``) in one short transaction; ``bytes_done`` and
# ``lines_done`` say where a loading one resumes. Loads before 0006 were upserts: changes.
inventory_loads = Table(
    "inventory_loads",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("loaded_at", BigInteger, nullable=False),
    Column("source", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("rows_read", Integer, nullable=False),
    Column("rows_accepted", Integer, nullable=False),
    Column("rows_rejected", Integer, nullable=False),
    Column("kind", String(8), nullable=False, server_default="changes"),
    Column("state", String(10), nullable=False, server_default="applied"),
    Column("base", Integer),
    Column("rows_removed", Integer, nullable=False, server_default="0"),
    Column("device_count", Integer),  # devices in the version, once a full load is done
    Column("finished_at", BigInteger),
    Column("size_bytes", BigInteger),
    Column("bytes_done", BigInteger, nullable=False, server_default="0"),
    Column("lines_done", Integer, nullable=False, server_default="0"),
    Column("bucket_bits", Integer, nullable=False, server_default="0"),
    Column("manufacturers", Text, nullable=False, server_default="[]"),  # JSON list of names
)

# The packed fleet of each full load (poagate.store.reference.fleet_blocks): device and hub
# blocks in spread-key order, and while a load is staged, its pages of rows by bucket.
# A block's id is its load, kind and number in one integer (fleet_blocks.block_id): SQLite's
# rowid, so that fetching one is a single seek and a block sits in the row, not in overflow
# pages (a WITHOUT ROWID table keeps at most about 1 KB of a row in its page).
fleet_blocks = Table(
    "fleet_blocks",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("first_key", BigInteger, nullable=False),  # the spread key, as a signed integer
    Column("body", LargeBinary, nullable=False),
)

fleet_pages = Table(
    "fleet_pages",
    metadata,
    Column("load_id", Integer, primary_key=True),
    Column("kind", SmallInteger, primary_key=True),
    Column("bucket", Integer, primary_key=True),
    Column("page", Integer, primary_key=True),
    Column("body", LargeBinary, nullable=False),
    sqlite_with_rowid=False,
)

# Devices a change file upserted (load_id > the base in force; earlier rows are stale, and are
# cleared after a full load switches in), and devices it removed.
removed_devices = Table(
    "removed_devices",
    metadata,
    Column("device_id", String(23), primary_key=True),
    Column("load_id", Integer, nullable=False),
)

devices = Table(
    "devices",
    metadata,
    Column("device_id", String(23), primary_key=True),
    Column("device_type", String(8), nullable=False),
    Column("smets_version", String(8), nullable=False),
    Column("manufacturer", Text, nullable=False),
    Column("chf_id", String(23)),
    Column("mpan", String(13)),
    Column("network_operator", String(2), nullable=False),
    Column("postcode", String(8)),
    Column("load_id", Integer, nullable=False),
)

guid_list_versions = Table(
    "guid_list_versions",
    metadata,
    Column("number", Integer, primary_key=True),
    Column("loaded_at", BigInteger, nullable=False),
    Column("source", Text, nullable=False),
    Column("entry_count", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
)

guid_list_entries = Table(
    "guid_list_entries",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("device_id", String(23), primary_key=True),
    sqlite_with_rowid=False,
)

# One row per input file a replay has read, identified by the SHA-256 of its content.
# ``events_done`` counts the events of that file already applied, in the file's own
# received_at order: a batch commits a prefix of the merged order of all files, which is a
# prefix of each file's order, so this counter is all a resumed replay needs to skip.
sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("first_seen", BigInteger, nullable=False),
    Column("events_total", Integer, nullable=False),
    Column("events_done", Integer, nullable=False),
)

activations = Table(
    "activations",
    metadata,
    Column("seq", Integer, primary_key=True),  # first-seen order
    Column("request_id", String(80), nullable=False, unique=True),
    Column("device_id", String(23), nullable=False),
    Column("originator", String(23), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Column("execution_at", BigInteger),
    Column("chf_id", String(23)),
    Column("reason", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("window_start", BigInteger),
    Column("window_end", BigInteger),
    Column("guid_list_version", Integer),
    Column("mpan", String(13)),
    Column("network_operator", String(2), nullable=False),
    Column("last_received_at", BigInteger, nullable=False),
    Column("repeats", Integer, nullable=False),
    Column("command_variant", Integer),
    Column("firmware_hash", Text),
    # Revision 0004 (spec §12): an operator ended the window — when, who, and why.
    Column("ended_at", BigInteger),
    Column("ended_by", Text),
    Column("end_note", Text),
)

# Every decided AD1: suppressed (a Suppression Log entry) or forwarded. seq is decision order.
# feed_seq (revision 0003) is the AD1's place in its DNO's forwarded feed: its seq when it was
# forwarded at once, a new number from the same counter when a guard released it (spec §9), so
# a released AD1 joins the end of the feed while its log entry keeps its place. sector is the
# CHF's postcode sector when it was decided, for the area-outage guard (NULL when unknown).
ad1_outcomes = Table(
    "ad1_outcomes",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("alert_id", String(256), nullable=False, unique=True),
    Column("suppressed", SmallInteger, nullable=False),  # 1 or 0
    Column("chf_id", String(23), nullable=False),
    Column("network_operator", String(2), nullable=False),
    Column("event_at", BigInteger, nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Column("decided_at", BigInteger, nullable=False),
    Column("reason", String(32), nullable=False),  # the rule, or why it was forwarded
    Column("esme_id", String(23)),
    Column("mpan", String(13)),
    Column("activation_request_id", String(80)),
    Column("activation_originator", String(23)),
    Column("window_start", BigInteger),
    Column("window_end", BigInteger),
    Column("released_at", BigInteger),
    Column("release_reason", String(32)),
    Column("sector", String(8)),
    Column("feed_seq", Integer),
    # Revision 0004 (spec §12): who released the entry, and why, when an operator did.
    Column("released_by", Text),
    Column("release_note", Text),
)

ad1_duplicates = Table(
    "ad1_duplicates",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("alert_id", String(256), nullable=False),
    Column("chf_id", String(23), nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Column("source", Text),
    Column("line", Integer),
)

activation_outcomes = Table(
    "activation_outcomes",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("device_id", String(23), nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Column("request_id", String(80)),
    Column("success", SmallInteger),  # 1, 0, or NULL when not known
)

device_messages = Table(
    "device_messages",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("device_id", String(23), nullable=False),
    Column("received_at", BigInteger, nullable=False),
)

ignored_inputs = Table(
    "ignored_inputs",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("received_at", BigInteger, nullable=False),
    Column("what", Text, nullable=False),
    Column("source", Text),
    Column("line", Integer),
)

rejected_inputs = Table(
    "rejected_inputs",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),  # event, inventory or guid_list
    Column("source", Text, nullable=False),
    Column("line", Integer),
    Column("error", Text, nullable=False),
    Column("raw", Text, nullable=False),
)

# -- the service (revision 0002) ----------------------------------------------------------------

# Bearer tokens, stored only as the SHA-256 of the token.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("role", String(8), nullable=False),  # admin, dsp or dno
    Column("network_operators", Text, nullable=False),  # comma-separated ids, for dno
    Column("description", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger),
)

# Sessions of the console (revision 0007, spec §13): the session id only as its SHA-256, the
# token it was started with, the CSRF token of its forms, and when it was last used or ended.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id_sha256", String(64), primary_key=True),
    Column("token_id", Integer, nullable=False),
    Column("csrf_secret", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_seen_at", BigInteger, nullable=False),
    Column("ended_at", BigInteger),
)
Index("ix_console_sessions_token", console_sessions.c.token_id)

# Every change to reference data, configuration, tokens and deliveries: who, when, what.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("at", BigInteger, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", String(64), nullable=False),
    Column("detail", Text, nullable=False),  # JSON
    Column("channel", String(16)),  # api, console, cli (spec §17); null before 0008
    Column("token_id", Integer),  # the token the act was made with; null from the command line
)

# The transactional outbox: a forwarded AD1 is queued in the same transaction as its decision,
# with the original message, and delivered to its DNO's webhook (poagate.delivery).
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("alert_id", String(256), nullable=False),
    Column("network_operator", String(2), nullable=False),
    Column("chf_id", String(23), nullable=False),
    Column("content_type", String(64), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # pending, delivered, dead; held: a suppressed AD1's message kept for its release (spec §9)
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("lease_until", BigInteger),
    Column("last_error", Text),
    Column("delivered_at", BigInteger),
    # Revision 0009 (spec §18): when its retrying began (queued, released, or sent again by an
    # operator); it is dead once delivery.retry_for_hours have passed since. NULL: created_at.
    Column("due_since", BigInteger),
)

# -- the verification guard (revision 0005) ----------------------------------------------------

# spec §14: each attempt to verify a suppressed AD1's site, one row an attempt (an attempt is
# issued once: UNIQUE(alert_id, attempt)). outcome is pending until it is answered, expires,
# ends in a release (no_answer) or is withdrawn; the DSP's queue is the pending rows.
# pushed_at: when the optional push to the DSP's webhook was taken (NULL until then).
verifications = Table(
    "verifications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("alert_id", String(256), nullable=False),
    Column("attempt", SmallInteger, nullable=False),
    Column("chf_id", String(23), nullable=False),
    Column("esme_id", String(23), nullable=False),
    Column("requested_at", BigInteger, nullable=False),
    Column("deadline", BigInteger, nullable=False),
    Column("settled_at", BigInteger),
    Column("outcome", String(10), nullable=False),
    Column("pushed_at", BigInteger),
    UniqueConstraint("alert_id", "attempt", name="uq_verifications_attempt"),
)
PENDING_VERIFICATIONS = "outcome = 'pending'"
ANSWERED_VERIFICATIONS = "outcome = 'answered'"

Index("ix_activations_device", activations.c.device_id)
Index("ix_activations_chf", activations.c.chf_id)
Index("ix_devices_chf", devices.c.chf_id)
Index("ix_devices_load", devices.c.load_id)
Index("ix_removed_devices_load", removed_devices.c.load_id)
Index("ix_ad1_duplicates_alert", ad1_duplicates.c.alert_id)
Index("ix_outbox_due", outbox.c.status, outbox.c.next_attempt_at)
Index("ix_outbox_chf", outbox.c.chf_id, outbox.c.id)
# Revision 0003. Partial indexes, so that each AD1 is in one of a DNO's two listings and the
# insert path maintains one more index than before (an integer, appended at its end): a DNO's
# Suppression Log in decision order, its feed in feed order, the whole feed in order (admin's,
# and the highest place in it), and by sector and time, for area-outage, the AD1s that reached
# their DNO (its evidence) and the entries not released (what it may release), and those
# entries by seq for release-if-dark. Queries name
# the conditions as literals, which lets SQLite and PostgreSQL's generic plans use them.
LOG_ROWS = "suppressed = 1"
FEED_ROWS = "feed_seq IS NOT NULL"
EVIDENCE_ROWS = "sector IS NOT NULL AND feed_seq IS NOT NULL"
WAITING_ROWS = "sector IS NOT NULL AND suppressed = 1 AND released_at IS NULL"
UNRELEASED_ROWS = "suppressed = 1 AND released_at IS NULL"


def _partial(name: str, where: str, *columns: Column[Any]) -> Index:
    return Index(name, *columns, sqlite_where=text(where), postgresql_where=text(where))


_partial("ix_ad1_outcomes_log", LOG_ROWS, ad1_outcomes.c.network_operator, ad1_outcomes.c.seq)
# Revision 0010 (spec §15): a date range's first entry in decision order, from the range alone.
_partial(
    "ix_ad1_outcomes_log_received",
    LOG_ROWS,
    ad1_outcomes.c.network_operator,
    ad1_outcomes.c.received_at,
    ad1_outcomes.c.seq,
)
_partial(
    "ix_ad1_outcomes_feed", FEED_ROWS, ad1_outcomes.c.network_operator, ad1_outcomes.c.feed_seq
)
_partial("ix_ad1_outcomes_feed_order", FEED_ROWS, ad1_outcomes.c.feed_seq)
_partial("ix_ad1_outcomes_evidence", EVIDENCE_ROWS, ad1_outcomes.c.sector, ad1_outcomes.c.event_at)
_partial("ix_ad1_outcomes_waiting", WAITING_ROWS, ad1_outcomes.c.sector, ad1_outcomes.c.event_at)
_partial("ix_ad1_outcomes_unreleased", UNRELEASED_ROWS, ad1_outcomes.c.seq)
Index("ix_outbox_alert", outbox.c.alert_id)
Index("ix_device_messages_device", device_messages.c.device_id, device_messages.c.received_at)
Index(
    "ix_activation_outcomes_device",
    activation_outcomes.c.device_id,
    activation_outcomes.c.received_at,
)
# Revision 0004 (spec §12): the windows that may still suppress, by their end, for listing the
# open windows without reading every activation ever recorded.
OPEN_WINDOW_ROWS = "window_start IS NOT NULL AND ended_at IS NULL AND status = 'active'"
_partial("ix_activations_open", OPEN_WINDOW_ROWS, activations.c.window_end)
_partial("ix_verifications_pending", PENDING_VERIFICATIONS, verifications.c.id)
# Revision 0012: a delivery lane's claim reads its DNO's pending messages in queue order from
# the first of them, not from the first message ever queued (store.outbox).
PENDING_DELIVERIES = "status = 'pending'"
_partial("ix_outbox_pending", PENDING_DELIVERIES, outbox.c.network_operator, outbox.c.id)
