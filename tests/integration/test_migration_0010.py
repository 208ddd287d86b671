"""Revision 0010 (spec §15, a date range's pages) on each backend: it goes up over a Suppression
Log written before it, the range's pages read the same after as before, the oldest compatible
revision stays 0007 (it is additive), and it goes down and up again. On PostgreSQL the index is
built concurrently and an invalid one left by a build stopped part-way is built again."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic import command

from poagate.store.alerts.listings import OutcomeFilter
from poagate.store.batch import Batch
from poagate.store.database import open_store
from poagate.store.migrate import alembic_config
from poagate.store.schema import MIN_COMPATIBLE_KEY
from tests.integration.test_log_ranges import START, decided_out_of_order
from tests.integration.test_migration_0004 import sqlalchemy_url

INDEX = "ix_ad1_outcomes_log_received"


def indexes(engine: sa.Engine) -> set[str]:
    return {str(i["name"]) for i in sa.inspect(engine).get_indexes("ad1_outcomes")}


def test_revision_0010_goes_up_over_a_log_and_its_ranges_read_the_same(database: str) -> None:
    url = sqlalchemy_url(database)
    config = alembic_config(url)
    which = OutcomeFilter(
        suppressed=True,
        network_operators=frozenset({"12"}),
        since=START + timedelta(hours=20),
        until=START + timedelta(hours=70),
    )
    with open_store(database, "service") as store:
        with store.transaction():
            store.decisions.forget_sequence()
            store.decisions.commit(Batch(ad1_outcomes=decided_out_of_order(3)))
        before = [e.alert_id for e in store.listings.ad1_outcomes(which)]
    assert len(before) > 20
    command.downgrade(config, "0009")
    engine = sa.create_engine(url)
    try:
        assert INDEX not in indexes(engine)
        if engine.dialect.name == "postgresql":
            # what a concurrent build stopped part-way leaves: an index marked invalid
            with engine.begin() as conn:
                conn.execute(sa.text(f"CREATE INDEX {INDEX} ON ad1_outcomes (seq)"))
                conn.execute(
                    sa.text(
                        "UPDATE pg_index SET indisvalid = false "
                        "WHERE indexrelid = CAST(:name AS regclass)"
                    ),
                    {"name": INDEX},
                )
        command.upgrade(config, "head")
        assert INDEX in indexes(engine)
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                valid, columns = conn.execute(
                    sa.text(
                        "SELECT i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                        "WHERE i.indexrelid = CAST(:name AS regclass)"
                    ),
                    {"name": INDEX},
                ).one()
            assert valid
            assert "network_operator, received_at, seq" in columns
            assert "suppressed = 1" in columns
        with open_store(database, "service") as store:
            assert store.meta(MIN_COMPATIBLE_KEY) == "0007"
            assert [e.alert_id for e in store.listings.ad1_outcomes(which)] == before
            page = store.listings.outcomes_page(which, before[4], 10)
            assert [e.alert_id for e in page] == before[5:15]
        command.downgrade(config, "0009")
        assert INDEX not in indexes(engine)
        command.upgrade(config, "head")
        assert INDEX in indexes(engine)
    finally:
        engine.dispose()
