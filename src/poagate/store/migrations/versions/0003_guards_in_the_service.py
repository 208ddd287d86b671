"""guards in the service: feed order, sectors, held deliveries, sign-of-life indexes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 06:30:00

The DNO index of 0002 (every AD1 by operator and seq) becomes two partial ones, the log's
and the feed's. ``feed_seq`` of existing rows: a forwarded AD1 keeps its ``seq``; an entry a
replay released gets a new number after every other, in the order of its release. ``sector``
is left NULL on existing rows (area-outage counts only AD1s stored with a sector;
docs/guards.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Partial indexes (see poagate.store.schema): each AD1 is in one of a DNO's two listings.
PARTIAL = (
    ("ix_ad1_outcomes_log", ["network_operator", "seq"], "suppressed = 1"),
    ("ix_ad1_outcomes_feed", ["network_operator", "feed_seq"], "feed_seq IS NOT NULL"),
    ("ix_ad1_outcomes_feed_order", ["feed_seq"], "feed_seq IS NOT NULL"),
    (
        "ix_ad1_outcomes_evidence",
        ["sector", "event_at"],
        "sector IS NOT NULL AND feed_seq IS NOT NULL",
    ),
    (
        "ix_ad1_outcomes_waiting",
        ["sector", "event_at"],
        "sector IS NOT NULL AND suppressed = 1 AND released_at IS NULL",
    ),
    ("ix_ad1_outcomes_unreleased", ["seq"], "suppressed = 1 AND released_at IS NULL"),
)


def upgrade() -> None:
    with op.batch_alter_table("ad1_outcomes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sector", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("feed_seq", sa.Integer(), nullable=True))
    connection = op.get_bind()
    connection.execute(sa.text("UPDATE ad1_outcomes SET feed_seq = seq WHERE suppressed = 0"))
    top = connection.execute(sa.text("SELECT COALESCE(MAX(seq), 0) FROM ad1_outcomes")).scalar()
    released = connection.execute(
        sa.text(
            "SELECT seq FROM ad1_outcomes WHERE suppressed = 1 AND released_at IS NOT NULL "
            "ORDER BY released_at, alert_id"
        )
    ).all()
    if released:
        connection.execute(
            sa.text("UPDATE ad1_outcomes SET feed_seq = :feed WHERE seq = :seq"),
            [{"feed": int(top or 0) + n, "seq": row[0]} for n, row in enumerate(released, 1)],
        )
    with op.batch_alter_table("ad1_outcomes", schema=None) as batch_op:
        batch_op.drop_index("ix_ad1_outcomes_operator")
        for name, columns, where in PARTIAL:
            batch_op.create_index(
                name, columns, sqlite_where=sa.text(where), postgresql_where=sa.text(where)
            )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_alert", ["alert_id"])
    with op.batch_alter_table("device_messages", schema=None) as batch_op:
        batch_op.create_index("ix_device_messages_device", ["device_id", "received_at"])
    with op.batch_alter_table("activation_outcomes", schema=None) as batch_op:
        batch_op.create_index("ix_activation_outcomes_device", ["device_id", "received_at"])


def downgrade() -> None:
    with op.batch_alter_table("activation_outcomes", schema=None) as batch_op:
        batch_op.drop_index("ix_activation_outcomes_device")
    with op.batch_alter_table("device_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_device_messages_device")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_alert")
    with op.batch_alter_table("ad1_outcomes", schema=None) as batch_op:
        for name, _, _ in reversed(PARTIAL):
            batch_op.drop_index(name)
        batch_op.create_index("ix_ad1_outcomes_operator", ["network_operator", "seq"])
        batch_op.drop_column("feed_seq")
        batch_op.drop_column("sector")
