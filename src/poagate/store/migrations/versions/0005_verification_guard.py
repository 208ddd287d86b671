"""the verification guard: one row an attempt to verify a suppressed AD1's site (spec §14)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 08:00:00

A new table only; nothing existing changes. ``uq_verifications_attempt`` makes an attempt
issued once, whichever server process issues it; a partial index keeps the DSP's queue (the
pending rows) short to read however many requests were ever made.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PENDING = "outcome = 'pending'"


def upgrade() -> None:
    op.create_table(
        "verifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("alert_id", sa.String(length=256), nullable=False),
        sa.Column("attempt", sa.SmallInteger(), nullable=False),
        sa.Column("chf_id", sa.String(length=23), nullable=False),
        sa.Column("esme_id", sa.String(length=23), nullable=False),
        sa.Column("requested_at", sa.BigInteger(), nullable=False),
        sa.Column("deadline", sa.BigInteger(), nullable=False),
        sa.Column("settled_at", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("pushed_at", sa.BigInteger(), nullable=True),
        sa.UniqueConstraint("alert_id", "attempt", name="uq_verifications_attempt"),
    )
    op.create_index(
        "ix_verifications_pending",
        "verifications",
        ["id"],
        sqlite_where=sa.text(PENDING),
        postgresql_where=sa.text(PENDING),
    )


def downgrade() -> None:
    op.drop_index("ix_verifications_pending", table_name="verifications")
    op.drop_table("verifications")
