"""Revision 0011 (the activations' mark, ``poagate.store.marks``) on each backend: it goes up
over a store with activations, its trigger then moves the mark with every write to them (on
PostgreSQL once a transaction, on SQLite once a row), the
oldest compatible revision stays 0007 (it is additive), and it goes down (trigger and mark gone,
writes to the activations still work) and up again."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from poagate.store.database import open_store
from poagate.store.marks import ACTIVATIONS_MARK
from poagate.store.migrate import alembic_config
from poagate.store.schema import MIN_COMPATIBLE_KEY
from tests.integration.test_migration_0004 import sqlalchemy_url

INSERT = (
    "INSERT INTO activations (request_id, device_id, originator, kind, received_at, reason, "
    "status, network_operator, last_received_at, repeats) VALUES "
    "(:r, 'D', 'O', 'immediate', 0, 'eligible', 'active', '12', 0, 0)"
)


def mark(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        value = conn.execute(
            sa.text("SELECT value FROM meta WHERE key = :k"), {"k": ACTIVATIONS_MARK}
        ).scalar()
    return None if value is None else str(value)


def write(engine: sa.Engine, request_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(INSERT), {"r": request_id})
        conn.execute(sa.text("UPDATE activations SET repeats = repeats + 1"))


def test_revision_0011_goes_up_and_down_and_its_trigger_moves_the_mark(database: str) -> None:
    url = sqlalchemy_url(database)
    config = alembic_config(url)
    command.downgrade(config, "0010")
    engine = sa.create_engine(url)
    try:
        assert mark(engine) is None
        write(engine, "R1")  # before the revision: no trigger, nothing moves
        assert mark(engine) is None
        command.upgrade(config, "head")
        assert mark(engine) == "0"
        write(engine, "R2")  # an insert and an update of two rows, in one transaction
        after = int(mark(engine) or 0)
        # PostgreSQL moves it once a transaction; SQLite once a row (one inserted, two updated)
        assert after == (1 if engine.dialect.name == "postgresql" else 3)
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM activations WHERE request_id = 'R1'"))
        assert int(mark(engine) or 0) == after + 1
        with open_store(database, "service") as store:
            assert store.meta(MIN_COMPATIBLE_KEY) == "0007"
            assert store.read_ahead().marks().activations == after + 1
        command.downgrade(config, "0010")
        assert mark(engine) is None
        write(engine, "R3")  # the trigger is gone with its mark
        assert mark(engine) is None
        command.upgrade(config, "head")
        assert mark(engine) == "0"
    finally:
        engine.dispose()
