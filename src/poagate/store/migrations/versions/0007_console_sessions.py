"""console sessions: who is signed in to the console, in the store

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 10:40:00

spec §13. A console session lives in the store, not in one server process's memory, so that
every process of ``poagate serve`` (and every server on one PostgreSQL database) knows it. The
session's id is kept only as its SHA-256, as tokens are: a copy of the database signs nobody
in. ``csrf_secret`` is the token every form of the session carries. ``last_seen_at`` measures
idle time; ``ended_at`` is set by sign-out.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id_sha256", sa.String(length=64), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("csrf_secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id_sha256"),
    )
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_console_sessions_token", ["token_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_console_sessions_token")
    op.drop_table("console_sessions")
