"""the deliveries still to make, by DNO in queue order: a claim reads from the first of them

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 03:00:00

A delivery lane claims its DNO's next messages in queue order (``store.outbox``). PostgreSQL
walked the whole queue by ``id`` from its first row, delivered ones and all, to the first
message still pending: the outbox keeps what it delivered until retention purges it, so a
claim's cost grew with history, and a claim holds the writers' lock. Measured on PostgreSQL
15: 60,000 delivered rows before 40,000 pending ones, 21 ms a claim (61,328 rows read and
left); with this partial index of the pending messages by DNO and ``id``, 2.6 ms, whatever
the history. In a soak's first minutes (40,000 messages queued at once) claims held the lock
up to 1.6 s, every decision waiting behind them.
On PostgreSQL it is built ``CONCURRENTLY`` (as 0010's). Additive: code of 0007 works on this
schema, so the oldest compatible revision stays 0007.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

MIN_COMPATIBLE_KEY = "schema_min_compatible_revision"
INDEX = "ix_outbox_pending"
PENDING_ROWS = "status = 'pending'"  # poagate.store.schema.PENDING_DELIVERIES at this revision
COLUMNS = ["network_operator", "id"]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
            op.create_index(
                INDEX,
                "outbox",
                COLUMNS,
                postgresql_where=sa.text(PENDING_ROWS),
                postgresql_concurrently=True,
            )
    else:
        op.create_index(INDEX, "outbox", COLUMNS, sqlite_where=sa.text(PENDING_ROWS))
    meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))
    op.execute(meta.delete().where(meta.c.key == MIN_COMPATIBLE_KEY))
    op.execute(meta.insert().values(key=MIN_COMPATIBLE_KEY, value="0007"))


def downgrade() -> None:
    op.drop_index(INDEX, table_name="outbox")
