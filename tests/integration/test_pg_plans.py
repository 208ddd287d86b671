"""PostgreSQL plans every statement poagate sends for the values it is sent with
(``plan_cache_mode=force_custom_plan``, spec §16). psycopg prepares a statement after its fifth
use; PostgreSQL then keeps one generic plan for it when that looks cheaper, and it looks
cheaper on an empty table. The R6 lookup (``alert_id = ANY(...)``) prepared on a fresh
database kept a sequential scan comparing every row with every alert_id of a group, long after
the table had grown: under two server processes on PostgreSQL batches fell from about 18,000
to 3,500 AD1/s in benchmarks/http.py's order (single messages, then batches), until autovacuum
happened to analyze the table. And the R6 lookup itself is written so that PostgreSQL probes the
unique index for each alert_id whatever it believes of the table: planned for its values, the
``= ANY(...)`` form still scanned the whole table before the first ANALYZE (18-29 ms a group at
230,000 rows against about 1 ms)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from poagate.store.database import open_store
from poagate.store.store import Store
from tests.pg import PostgresServer

_ROWS = 30_000
HUB = "00-11-22-33-44-55-66-77"


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
    lookups = [row for row in prepared if "unnest" in row[0] and "ad1_outcomes" in row[0]]
    assert lookups, prepared  # psycopg did prepare it
    assert all(generic == 0 for _, generic, _ in lookups), lookups
    assert sum(custom for _, _, custom in lookups) >= 6


def test_the_r6_lookup_probes_the_index_on_a_table_never_analyzed(
    postgres: PostgresServer,
) -> None:
    outcomes = (
        "ad1_outcomes (seq, alert_id, suppressed, chf_id, network_operator, event_at, "
        "received_at, decided_at, reason, feed_seq)",
        ((n, f"A-{n}", 0, HUB, "12", n, n, n, "x", n) for n in range(1, _ROWS + 1)),
    )
    with loaded(postgres, outcomes, analyze=False) as database:
        with psycopg.connect(database, autocommit=True) as conn:
            analyzed = conn.execute(
                "SELECT last_analyze, last_autoanalyze FROM pg_stat_user_tables "
                "WHERE relname = 'ad1_outcomes'"
            ).fetchone()
        assert analyzed == (None, None)  # what the planner knows is what it guesses
        with open_store(database, "service") as store:
            plans: list[str] = []
            # auto_explain sends the plan of every statement this session runs as a notice.
            store.db._live().add_notice_handler(lambda d: plans.append(d.message_primary or ""))
            store.db.run("LOAD 'auto_explain'")
            store.db.run("SET auto_explain.log_min_duration = 0")
            store.db.run("SET auto_explain.log_level = 'notice'")
            asked = [f"A-{n}" for n in range(1, _ROWS, 60)] + [f"B-{n}" for n in range(500)]
            decided = store.alerts.decided_among(asked)
    assert decided == {a for a in asked if a.startswith("A-")}
    lookup = [plan for plan in plans if "ad1_outcomes" in plan]
    assert len(lookup) == 1, plans
    assert "Seq Scan on ad1_outcomes" not in lookup[0], lookup[0]
    assert "Index Only Scan using ad1_outcomes_alert_id_key" in lookup[0], lookup[0]


def test_a_claim_reads_from_the_first_pending_message_not_from_the_queues_start(
    postgres: PostgresServer,
) -> None:
    # The outbox keeps what it delivered until retention purges it. A claim walked the queue by
    # id from its first row to the first message still pending (PostgreSQL believes pending
    # rows are spread evenly; they are all at the end): its cost grew with history, under the
    # writers' lock. Revision 0012's partial index gives it the pending messages alone.
    delivered, pending = _ROWS, 20_000
    queue = (
        "outbox (alert_id, network_operator, chf_id, content_type, payload, created_at, "
        "next_attempt_at, status, attempts, due_since)",
        (
            (
                f"A-{n}",
                str(10 + n % 14),  # the DNO
                f"00-11-22-33-{n % 20_000:04X}-66-77",  # the hub
                "application/json",
                b"{}",
                1,
                1,
                "delivered" if n < delivered else "pending",
                0,
                1,
            )
            for n in range(delivered + pending)
        ),
    )
    with (
        loaded(postgres, queue) as database,
        open_store(database, "service") as store,
        store.transaction(),
    ):
        claimed = store.outbox.claim(datetime.now(UTC), timedelta(seconds=30), 10, "12")
        read = rows_read(store, "outbox")
    assert [d.network_operator for d in claimed] == ["12"] * 10
    assert all(int(d.alert_id[2:]) >= delivered for d in claimed)
    assert read < 1_000, read  # the old plan: about 30,000


def test_a_verification_pass_reads_requests_by_alert_not_every_request_kept(
    postgres: PostgresServer,
) -> None:
    # A pass asks which entries after its watermark were answered, and for the requests of
    # those that were not. Written as NOT EXISTS and ``= ANY``, PostgreSQL hashed or scanned
    # every request kept (in a 30-minute soak, its reads of requests grew from 0.1 to 6.9 ms); each
    # alert's requests are now read by an index probe, whatever the history.
    old, new = _ROWS, 200
    outcomes = (
        "ad1_outcomes (seq, alert_id, suppressed, chf_id, network_operator, event_at, "
        "received_at, decided_at, reason, esme_id, activation_request_id, "
        "activation_originator, window_start, window_end)",
        (
            (n, f"A-{n}", 1, HUB, "12", n, n, n, "x", "e", "r", "o", n, n)
            for n in range(1, old + new + 1)
        ),
    )
    requests = (
        "verifications (alert_id, attempt, chf_id, esme_id, requested_at, deadline, "
        "settled_at, outcome)",
        (
            (f"A-{n}", 1, "c", "e", n, n + 1, n, "answered" if n % 2 or n <= old else "pending")
            for n in range(1, old + new + 1)
        ),
    )
    with (
        loaded(postgres, outcomes, requests) as database,
        open_store(database, "service") as store,
        store.transaction(),
    ):
        due = store.alerts.unreleased_due(old, datetime(2100, 1, 1, tzinfo=UTC), unanswered=True)
        asked = store.verifications.of_alerts([e.alert_id for _, _, e in due])
        read = rows_read(store, "verifications")
    assert [e.alert_id for _, _, e in due] == [f"A-{n}" for n in range(old + 2, old + new + 1, 2)]
    assert sorted(r.alert_id for r in asked) == sorted(e.alert_id for _, _, e in due)
    assert read < 1_000, read  # NOT EXISTS and = ANY: about 30,000


def test_a_groups_activation_read_asks_only_for_the_keys_it_has(
    postgres: PostgresServer,
) -> None:
    # A group of AD1s has hubs but no request_ids and no devices with a future-dated
    # activation to ask for. Sent as "request_id = ANY('{}')" to a table not analyzed since
    # a campaign's activations arrived, PostgreSQL answered the empty branches by walking the
    # partial index of open windows, each row read: 3-4 ms a group with 7,000 open windows in
    # benchmarks/http.py, the largest cost of a single message there. Empty branches are
    # now left out.
    activations = (
        "activations (request_id, device_id, originator, kind, received_at, chf_id, reason, "
        "status, window_start, window_end, network_operator, last_received_at, repeats)",
        (
            (f"R-{n}", f"E-{n}", "o", "immediate", n, f"H-{n}", "eligible", "active",
             n if n % 3 == 0 else None, n + 1_800_000_000 if n % 3 == 0 else None, "12", n, 0)
            for n in range(_ROWS)  # a third of them with an open window
        ),
    )  # fmt: skip
    with (
        loaded(postgres, activations, analyze=False) as database,
        open_store(database, "service") as store,
        store.transaction(),
    ):
        found = store.activations.activations_for([], ["H-6", "H-8", "H-9", "nobody"], [])
        read = rows_read(store, "activations")
        assert store.activations.activations_for([], [], []) == []
    assert [r.request_id for r in found] == ["R-6", "R-9"]  # H-8 has no window
    assert read < 100, read  # with the empty branches: 20,003 (the index walked twice)


def test_a_pass_finds_pending_requests_of_released_entries_by_probes(
    postgres: PostgresServer,
) -> None:
    # Each verification pass looks for pending requests whose entry was released otherwise.
    # Written as a join, PostgreSQL hashed the released outcomes read by a sequential scan of
    # every outcome kept (all 57,000 here; the soak saw 20-60 ms a pass in some minutes), under
    # the writers' lock; each pending request now probes its outcome by alert_id.
    kept, pending = 57_000, 1_100
    outcomes = (
        "ad1_outcomes (seq, alert_id, suppressed, chf_id, network_operator, event_at, "
        "received_at, decided_at, reason, released_at)",
        (
            (n, f"A-{n}", 1, HUB, "12", n, n, n, "x", n if n % 20 == 0 else None)
            for n in range(1, kept + 1)
        ),
    )
    requests = (
        "verifications (alert_id, attempt, chf_id, esme_id, requested_at, deadline, "
        "settled_at, outcome)",
        (
            (f"A-{n}", 1, "c", "e", n, n + 1, n, "answered")
            if n <= kept - pending
            else (f"A-{n}", 1, "c", "e", n, n + 1, None, "pending")
            for n in range(1, kept + 1)
        ),
    )
    with (
        loaded(postgres, outcomes, requests) as database,
        open_store(database, "service") as store,
        store.transaction(),
    ):
        found = store.verifications.pending_of_released()
        read = rows_read(store, "ad1_outcomes")
    assert sorted(r.alert_id for r in found) == sorted(
        f"A-{n}" for n in range(kept - pending + 1, kept + 1) if n % 20 == 0
    )
    assert read < 5_000, read  # as a join: 57,000 (every outcome kept)


Rows = tuple[str, Iterable[tuple[Any, ...]]]  # a table ("name (columns)") and its rows


@contextlib.contextmanager
def loaded(postgres: PostgresServer, *tables: Rows, analyze: bool = True) -> Iterator[str]:
    """A new database with ``tables`` copied in (``copy_rows``) and, unless ``analyze`` is
    False, analyzed; dropped afterwards."""
    database = postgres.fresh_database()
    try:
        with psycopg.connect(database, autocommit=True) as conn:
            for table, rows in tables:
                copy_rows(conn, table, rows)
            if analyze:
                conn.execute("ANALYZE")
        yield database
    finally:
        postgres.drop_database(database)


def rows_read(store: Store, table: str) -> int:
    """The rows of ``table`` this transaction has read so far, by scans and index fetches."""
    row = store.db.one(
        "SELECT COALESCE(seq_tup_read, 0) + COALESCE(idx_tup_fetch, 0) "
        "FROM pg_stat_xact_user_tables WHERE relname = ?",
        (table,),
    )
    assert row is not None
    return int(row[0])


def copy_rows(
    conn: psycopg.Connection[tuple[Any, ...]], table: str, rows: Iterable[tuple[Any, ...]]
) -> None:
    """``rows`` into ``table`` ("name (columns)") by COPY: tens of thousands in a moment."""
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
