"""incident controls: ended windows, operators' releases, the open-window index

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 08:00:00

spec §12. ``activations`` gains when, by whom and why an operator ended a window;
``ad1_outcomes`` gains who released an entry and why, when an operator did (``released_at``
and ``release_reason`` are there already). A partial index on the windows that may still
suppress lists the open ones without reading every activation. Existing rows: nothing ended,
nothing released by an operator.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OPEN_WINDOW_ROWS = "window_start IS NOT NULL AND ended_at IS NULL AND status = 'active'"


def upgrade() -> None:
    with op.batch_alter_table("activations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ended_at", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("ended_by", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("end_note", sa.Text(), nullable=True))
    with op.batch_alter_table("activations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_activations_open",
            ["window_end"],
            sqlite_where=sa.text(OPEN_WINDOW_ROWS),
            postgresql_where=sa.text(OPEN_WINDOW_ROWS),
        )
    with op.batch_alter_table("ad1_outcomes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("released_by", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("release_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ad1_outcomes", schema=None) as batch_op:
        batch_op.drop_column("release_note")
        batch_op.drop_column("released_by")
    with op.batch_alter_table("activations", schema=None) as batch_op:
        batch_op.drop_index("ix_activations_open")
        batch_op.drop_column("end_note")
        batch_op.drop_column("ended_by")
        batch_op.drop_column("ended_at")
