"""Revision 0004 (spec §12 incident controls) on each backend: it goes up over a store with
decisions in it (nothing ended, nothing released by an operator) and down and up again."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from poagate.store.database import is_postgres, open_store, sqlite_path
from poagate.store.migrate import alembic_config
from poagate.store.postgres import libpq_url
from tests.helpers import ESME, USER, ts

AT = 1_772_359_200_000_000  # 2026-03-01T10:00:00Z in microseconds
REQUEST_ID = f"{USER}:{ESME}:1"


def sqlalchemy_url(database: str) -> str:
    if is_postgres(database):
        return libpq_url(database).replace("postgresql://", "postgresql+psycopg://", 1)
    return f"sqlite:///{sqlite_path(database)}"


def columns(engine: sa.Engine, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns(table)}


def test_revision_0004_goes_up_over_decisions_and_down_again(database: str) -> None:
    url = sqlalchemy_url(database)
    config = alembic_config(url)
    open_store(database, "service").close()  # at the head
    command.downgrade(config, "0003")
    engine = sa.create_engine(url)
    try:
        assert "ended_at" not in columns(engine, "activations")
        assert "released_by" not in columns(engine, "ad1_outcomes")
        with engine.begin() as conn:  # an activation with a window, as 0003 stored it
            conn.execute(
                sa.text(
                    "INSERT INTO activations (request_id, device_id, originator, kind, "
                    "received_at, chf_id, reason, status, window_start, window_end, "
                    "network_operator, last_received_at, repeats) VALUES (:r, :d, :u, "
                    "'immediate', :at, :c, 'eligible', 'active', :at, :end, '10', :at, 0)"
                ),
                {"r": REQUEST_ID, "d": ESME, "u": USER, "c": "00-DB-12-34-56-78-90-C0",
                 "at": AT, "end": AT + 1_800_000_000},
            )  # fmt: skip
        command.upgrade(config, "head")
        assert {"ended_at", "ended_by", "end_note"} <= columns(engine, "activations")
        assert {"released_by", "release_note"} <= columns(engine, "ad1_outcomes")
        now = ts("2026-03-01T10:05:00Z")
        with open_store(database, "service") as store:
            (listed,) = store.activations.windows_page(open_at=now)
            assert (listed.activation.request_id, listed.activation.ended_at) == (REQUEST_ID, None)
            store.activations.end_window(REQUEST_ID, now, "test", "a note")
            assert store.activations.windows_page(open_at=now) == []
        command.downgrade(config, "0003")
        assert "ended_at" not in columns(engine, "activations")
        command.upgrade(config, "head")
        with open_store(database, "read") as store:
            again = store.activations.window(REQUEST_ID)
            assert again is not None
            assert again.activation.ended_at is None  # going down dropped what 0004 added
    finally:
        engine.dispose()
