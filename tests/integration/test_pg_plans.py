"""PostgreSQL plans every statement poagate sends for the values it is sent with
(``plan_cache_mode=force_custom_plan``, spec §16). psycopg prepares a statement after its fifth
use; PostgreSQL then keeps one generic plan for it when that looks cheaper, and it looks
cheaper on an empty table. The R6 lookup (``alert_id = ANY(...)``) prepared on a fresh
database kept a sequential scan comparing every row with every alert_id of a group, long after
the table had grown: under two server processes on PostgreSQL batches fell from about 18,000
to 3,500 AD1/s in benchmarks/http.py's order (single messages, then batches), until autovacuum
happened to analyze the table."""

from __future__ import annotations

from poagate.store.database import open_store
from tests.pg import PostgresServer


def test_a_statement_prepared_on_an_empty_table_is_planned_again_at_each_use(
    postgres: PostgresServer,
) -> None:
    database = postgres.fresh_database()
    try:
        with open_store(database, "service") as store:
            for n in range(12):  # past psycopg's prepare threshold and PostgreSQL's five
                assert store.alerts.decided_among([f"P-{n}-{k}" for k in range(200)]) == set()
            prepared = store.db.fetch(
                "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
            )
    finally:
        postgres.drop_database(database)
    lookups = [row for row in prepared if "ANY" in row[0] and "ad1_outcomes" in row[0]]
    assert lookups, prepared  # psycopg did prepare it
    assert all(generic == 0 for _, generic, _ in lookups), lookups
    assert sum(custom for _, _, custom in lookups) >= 6
