"""a mark moved with every change to the activations, so a group can read them ahead of the lock

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 21:20:00

A group of decisions reads what it can before it takes the writers' lock and confirms it under
the lock by marks (``poagate.store.marks``). The activations change in many places (a decision's
upsert, an operator ending a window, retention deleting old ones) and by the code of every
release still serving during a rolling upgrade, so their mark is moved by the database itself:
a trigger on ``activations`` moves meta ``activations_changes`` on in every transaction that
inserts, updates or deletes one (on PostgreSQL once a transaction, however many statements:
a group's activations are one statement each; on SQLite once a row).
Additive: code of 0007 works on this schema (the trigger only writes a meta key it never
reads), so the oldest compatible revision stays 0007.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

MIN_COMPATIBLE_KEY = "schema_min_compatible_revision"
MARK = "activations_changes"  # poagate.store.marks.ACTIVATIONS_MARK
FUNCTION = "poagate_activations_changed"
BUMP = (
    f"INSERT INTO meta (key, value) VALUES ('{MARK}', '1') ON CONFLICT (key) DO UPDATE SET "
    "value = CAST(CAST(meta.value AS {integer}) + 1 AS TEXT)"
)
SQLITE_EVENTS = ("INSERT", "UPDATE", "DELETE")
DONE = "poagate.activations_marked"  # PostgreSQL: set for the rest of the transaction


def upgrade() -> None:
    meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))
    op.execute(meta.delete().where(meta.c.key == MARK))
    op.execute(meta.insert().values(key=MARK, value="0"))
    if op.get_bind().dialect.name == "postgresql":
        # Once a transaction: a setting local to it says the count has moved already.
        op.execute(
            f"CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN IF current_setting('{DONE}', true) = 'on' THEN RETURN NULL; END IF; "
            f"PERFORM set_config('{DONE}', 'on', true); "
            f"{BUMP.format(integer='BIGINT')}; RETURN NULL; END $$"
        )
        op.execute("DROP TRIGGER IF EXISTS activations_changed ON activations")
        op.execute(
            "CREATE TRIGGER activations_changed AFTER INSERT OR UPDATE OR DELETE ON activations "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
        )
    else:
        for event in SQLITE_EVENTS:
            op.execute(
                f"CREATE TRIGGER IF NOT EXISTS activations_{event.lower()} AFTER {event} ON "
                f"activations BEGIN {BUMP.format(integer='INTEGER')}; END"
            )
    op.execute(meta.delete().where(meta.c.key == MIN_COMPATIBLE_KEY))
    op.execute(meta.insert().values(key=MIN_COMPATIBLE_KEY, value="0007"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS activations_changed ON activations")
        op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
    else:
        for event in SQLITE_EVENTS:
            op.execute(f"DROP TRIGGER IF EXISTS activations_{event.lower()}")
    meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))
    op.execute(meta.delete().where(meta.c.key == MARK))
