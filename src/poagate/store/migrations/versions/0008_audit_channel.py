"""audit channel: the channel and the token of each audit entry

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 09:30:00

spec §17 ("Read what happened"). An audit entry names the channel its act came through (``api``,
``console``, ``cli``) and the token it was made with (none from the command line). Additive:
entries recorded before have no token, and a channel only when their actor is the command
line's. The oldest code that works on this schema stays 0007 (meta
``schema_min_compatible_revision``): it writes no channel, which the column allows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MIN_COMPATIBLE_KEY = "schema_min_compatible_revision"  # poagate.store.schema's, as of 0008


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("token_id", sa.Integer(), nullable=True))
    op.execute("UPDATE audit_log SET channel = 'cli' WHERE actor LIKE 'command line%'")
    op.execute(
        sa.text(
            "INSERT INTO meta (key, value) SELECT :key, '0007' "
            "WHERE NOT EXISTS (SELECT 1 FROM meta WHERE key = :key)"
        ).bindparams(key=MIN_COMPATIBLE_KEY)
    )


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("token_id")
        batch_op.drop_column("channel")
