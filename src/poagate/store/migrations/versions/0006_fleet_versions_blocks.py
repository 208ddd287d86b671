"""the national fleet: inventory versions, packed fleet blocks, change overlay

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 08:00:00

Inventory loads become versions (spec §11): a full load replaces the inventory, a change file
amends it. Loads recorded before this revision upserted their rows into ``devices``, as change
files do now, so they become changes over an empty base and the inventory in force is the same
before and after the upgrade. Going down keeps ``devices`` (the changes) and drops the packed
versions: a store downgraded after a full load was made holds only the changes since.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _load_columns() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("kind", sa.String(length=8), nullable=False, server_default="changes"),
        sa.Column("state", sa.String(length=10), nullable=False, server_default="applied"),
        sa.Column("base", sa.Integer(), nullable=True),
        sa.Column("rows_removed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("device_count", sa.Integer(), nullable=True),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("bytes_done", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("lines_done", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("bucket_bits", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("manufacturers", sa.Text(), nullable=False, server_default="[]"),
    )


def upgrade() -> None:
    with op.batch_alter_table("inventory_loads", schema=None) as batch_op:
        for column in _load_columns():
            batch_op.add_column(column)
    op.execute("UPDATE inventory_loads SET base = 0, finished_at = loaded_at")
    op.create_table(
        "fleet_blocks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("first_key", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "fleet_pages",
        sa.Column("load_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("load_id", "kind", "bucket", "page"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "removed_devices",
        sa.Column("device_id", sa.String(length=23), nullable=False),
        sa.Column("load_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("device_id"),
    )
    op.create_index("ix_removed_devices_load", "removed_devices", ["load_id"])
    op.create_index("ix_devices_load", "devices", ["load_id"])


def downgrade() -> None:
    op.drop_index("ix_devices_load", table_name="devices")
    op.drop_index("ix_removed_devices_load", table_name="removed_devices")
    op.drop_table("removed_devices")
    op.drop_table("fleet_pages")
    op.drop_table("fleet_blocks")
    op.execute("DELETE FROM meta WHERE key IN ('inventory_base', 'inventory_generation')")
    op.execute("DELETE FROM inventory_loads WHERE kind = 'full'")
    with op.batch_alter_table("inventory_loads", schema=None) as batch_op:
        for column in reversed(_load_columns()):
            batch_op.drop_column(column.name)
