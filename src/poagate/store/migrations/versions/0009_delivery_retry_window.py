"""deliveries retried for a time, not a count: when each delivery became due

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 09:30:00

spec §18: a delivery is retried with capped exponential backoff for
``delivery.retry_for_hours`` before it is dead. ``due_since`` is when its retrying began: when it
was queued, when its held message was released, or when an operator sent it again. Rows of
earlier revisions have none; their ``created_at`` stands for it. Additive: code of 0007 works
on this schema (it leaves the column NULL), so the oldest compatible revision stays 0007.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

MIN_COMPATIBLE_KEY = "schema_min_compatible_revision"


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_since", sa.BigInteger(), nullable=True))
    meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))
    op.execute(meta.delete().where(meta.c.key == MIN_COMPATIBLE_KEY))
    op.execute(meta.insert().values(key=MIN_COMPATIBLE_KEY, value="0007"))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("due_since")
