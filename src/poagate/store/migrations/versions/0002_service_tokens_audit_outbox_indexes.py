"""service: tokens, audit, outbox, indexes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 23:38:46.366483
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("network_operators", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.String(length=256), nullable=False),
        sa.Column("network_operator", sa.String(length=2), nullable=False),
        sa.Column("chf_id", sa.String(length=23), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("lease_until", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_chf", ["chf_id", "id"], unique=False)
        batch_op.create_index("ix_outbox_due", ["status", "next_attempt_at"], unique=False)

    with op.batch_alter_table("activations", schema=None) as batch_op:
        batch_op.create_index("ix_activations_chf", ["chf_id"], unique=False)

    with op.batch_alter_table("ad1_outcomes", schema=None) as batch_op:
        batch_op.create_index("ix_ad1_outcomes_operator", ["network_operator", "seq"], unique=False)

    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.create_index("ix_devices_chf", ["chf_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index("ix_devices_chf")

    with op.batch_alter_table("ad1_outcomes", schema=None) as batch_op:
        batch_op.drop_index("ix_ad1_outcomes_operator")

    with op.batch_alter_table("activations", schema=None) as batch_op:
        batch_op.drop_index("ix_activations_chf")

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_due")
        batch_op.drop_index("ix_outbox_chf")

    op.drop_table("outbox")
    op.drop_table("audit_log")
    op.drop_table("api_tokens")
