"""A DNO's Suppression Log for a date range (spec §15): the range's pages start at the range's
first entry in decision order, found from ``ix_ad1_outcomes_log_received`` (DNO, received_at,
seq), not by walking every entry kept before it — on both backends, whatever the order in which
AD1s were received and decided (an AD1 held for verification is decided after AD1s received
later)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poagate.domain.outcomes import ForwardedAlert, SuppressionEntry
from poagate.formats.timestamps import parse_timestamp
from poagate.store.alerts.listings import OutcomeFilter
from poagate.store.batch import Batch
from poagate.store.database import open_store
from poagate.store.store import Store
from tests.pg import PostgresServer

START = parse_timestamp("2026-03-01T00:00:00Z", "test")
OPERATORS = ("12", "13", "21")
ENTRIES = 400
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


def entry(n: int, operator: str, hour: int, suppressed: bool) -> SuppressionEntry | ForwardedAlert:
    at = START + timedelta(hours=hour, seconds=n)
    chf = f"00-DB-12-34-56-78-{n // 256:02X}-{n % 256:02X}"
    if not suppressed:
        return ForwardedAlert(f"AD1-{n:05d}", chf, operator, at, at, at + timedelta(hours=1))
    return SuppressionEntry(
        f"AD1-{n:05d}", chf, "00-DB-12-34-56-78-90-AB", None, operator, at, at,
        at + timedelta(hours=1), f"R-{n}", "90-B3-D5-1F-30-01-00-00",
        at - timedelta(minutes=5), at + timedelta(minutes=25),
    )  # fmt: skip


def decided_out_of_order(seed: int) -> list[SuppressionEntry | ForwardedAlert]:
    """``ENTRIES`` AD1s over five days, in a decision order that mostly follows receipt but
    holds one in ten back by up to two days (so later receipts are decided first)."""
    rng = random.Random(seed)
    rows = [(n + (rng.randint(0, 48) if rng.random() < 0.1 else 0) * 30, n) for n in range(ENTRIES)]
    order = [n for _, n in sorted(rows)]
    return [entry(n, rng.choice(OPERATORS), n * 120 // ENTRIES, rng.random() < 0.6) for n in order]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Store, list[SuppressionEntry | ForwardedAlert]]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('ranges') / 'store.db'}"
    else:
        postgres: PostgresServer = request.getfixturevalue("postgres")
        url = postgres.fresh_database()
    decided = decided_out_of_order(7)
    with open_store(url, "service", schema="create") as opened:
        with opened.transaction():
            opened.decisions.forget_sequence()
            opened.decisions.commit(Batch(ad1_outcomes=decided))
        yield opened, decided


def expected(decided: list[SuppressionEntry | ForwardedAlert], which: OutcomeFilter) -> list[str]:
    assert which.network_operators is not None
    assert which.since is not None
    assert which.until is not None
    return [
        e.alert_id
        for e in decided  # in decision order
        if type(e) is SuppressionEntry
        and e.network_operator in which.network_operators
        and which.since <= e.received_at < which.until
    ]


def paged(store: Store, which: OutcomeFilter, limit: int) -> list[str]:
    """Every page of ``which`` read with the cursors a client sends."""
    found: list[str] = []
    while True:
        page = store.listings.outcomes_page(which, found[-1] if found else None, limit)
        found += [e.alert_id for e in page]
        if len(page) < limit:
            return found


@SETTINGS
@given(
    first_hour=st.integers(-5, 125),
    hours=st.integers(0, 60),
    scope=st.sampled_from([("12",), ("13",), ("12", "21"), OPERATORS]),
    limit=st.integers(1, 40),
)
def test_a_date_ranges_pages_hold_exactly_its_entries_in_decision_order(
    store: tuple[Store, list[SuppressionEntry | ForwardedAlert]],
    first_hour: int,
    hours: int,
    scope: tuple[str, ...],
    limit: int,
) -> None:
    opened, decided = store
    which = OutcomeFilter(
        suppressed=True,
        network_operators=frozenset(scope),
        since=START + timedelta(hours=first_hour),
        until=START + timedelta(hours=first_hour + hours),
    )
    want = expected(decided, which)
    assert paged(opened, which, limit) == want
    assert [e.alert_id for e in opened.listings.ad1_outcomes(which)] == want
    assert opened.listings.count(which) == len(want)


def test_the_sample_holds_entries_decided_before_earlier_receipts(
    store: tuple[Store, list[SuppressionEntry | ForwardedAlert]],
) -> None:
    """The case a bound taken from the range's first receipt would get wrong is there."""
    _, decided = store
    received = [e.received_at for e in decided]
    assert any(later < earlier for earlier, later in itertools.pairwise(received))
    assert sum(type(e) is SuppressionEntry for e in decided) > ENTRIES // 2


def test_a_ranges_first_entry_is_read_from_the_range_and_its_page_in_decision_order(
    tmp_path: Path,
) -> None:
    """SQLite chose the (DNO, seq) index for the range's first entry (reading every entry of the
    DNO) and the (DNO, received_at) one for the page (sorting the range) until told otherwise:
    the statements a page sends, as sent, are explained. (PostgreSQL plans them by its
    statistics, which a small table does not exercise: benchmarks/lifecycle_year.py does.)"""
    opened = open_store(f"sqlite:///{tmp_path / 'store.db'}", "service", schema="create")
    with opened.transaction():
        opened.decisions.forget_sequence()
        opened.decisions.commit(Batch(ad1_outcomes=decided_out_of_order(5)))
    sent: list[str] = []
    connection = opened.db._conn  # type: ignore[attr-defined]
    connection.set_trace_callback(sent.append)
    try:
        which = OutcomeFilter(
            suppressed=True,
            network_operators=frozenset({"12"}),
            since=START + timedelta(days=1),
            until=START + timedelta(days=2),
        )
        assert opened.listings.outcomes_page(which, None, 10)
    finally:
        connection.set_trace_callback(None)
    reads = [sql for sql in sent if "FROM ad1_outcomes" in sql]
    assert len(reads) == 2, sent
    bound, page = (str(opened.db.fetch("EXPLAIN QUERY PLAN " + sql)) for sql in reads)
    opened.close()
    assert "ix_ad1_outcomes_log_received" in bound, bound
    assert "ix_ad1_outcomes_log " in page, page
    assert "TEMP B-TREE" not in page, page
