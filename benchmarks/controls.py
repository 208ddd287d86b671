"""The incident controls and the reports at size (spec §12), on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/controls.py [--ad1 1000000] [--activations 200000]
        [--backends sqlite,postgres]

Fills a fresh store with ``--ad1`` decided AD1s over 30 days across the 14 DNO areas (one in
five suppressed) and ``--activations`` activation records (2,000 of them with a window open
now), then times what an operator and a DNO do:

* the summary with ``bucket=day`` for one DNO's month, and for every DNO;
* one DNO's whole month of the Suppression Log as the streamed CSV download (rows/s, and how
  much the process's memory grew);
* the open windows listed (the partial index keeps this off the 200,000 records);
* ``explain`` of one alert (mean of 200);
* an operator's release of one DNO's whole month of entries (one transaction: the time the
  writer is held).

On PostgreSQL the tables are analysed after the fill, as autovacuum would.

Prints the figures and writes bench-output/controls/results.json. Not part of the tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]
sys.path.insert(0, str(HERE.parent))

import argparse
import contextlib
import json
import os
import random
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil
from tests.pg import PostgresServer

from poagate.domain.events import ActivationKind
from poagate.domain.outcomes import ActivationRecord, ForwardedAlert, Status, SuppressionEntry
from poagate.domain.rules import Reason
from poagate.service.controls import ReleaseRequest, release
from poagate.service.explain import explain
from poagate.service.export import csv_chunks
from poagate.service.reporting import summarise
from poagate.store.alerts.listings import OutcomeFilter
from poagate.store.batch import Batch
from poagate.store.database import open_store
from poagate.store.store import Store

START = datetime(2026, 3, 1, tzinfo=UTC)
NOW = START + timedelta(days=30)
OPERATORS = [str(n) for n in range(10, 24)]
USER = "90-B3-D5-1F-30-01-00-00"


def device(kind: int, n: int) -> str:
    raw = f"{kind:02X}{n:014X}"
    return "-".join(raw[i : i + 2] for i in range(0, 16, 2))


def fill(store: Store, ad1s: int, activations: int) -> None:
    rng = random.Random(1)
    batch = Batch()
    for n in range(ad1s):
        operator = OPERATORS[n % len(OPERATORS)]
        at = START + timedelta(seconds=n * (30 * 86400) / ad1s)
        hub = device(0x15, n % 500_000)
        if rng.random() < 0.2:
            outcome: SuppressionEntry | ForwardedAlert = SuppressionEntry(
                f"AD1-{n}", hub, device(0xDB, n % 500_000), None, operator, at, at, at,
                f"{USER}:{device(0xDB, n % 500_000)}:1", USER, at, at + timedelta(minutes=30),
            )  # fmt: skip
        else:
            outcome = ForwardedAlert(f"AD1-{n}", hub, operator, at, at, at)
        batch.ad1_outcomes.append(outcome)
        if len(batch.ad1_outcomes) == 50_000:
            store.decisions.commit(batch)
            batch = Batch()
    for n in range(activations):
        esme = device(0xDB, 1_000_000 + n)
        opened = NOW - timedelta(minutes=10) if n < 2_000 else START + timedelta(minutes=n)
        record = ActivationRecord(
            f"{USER}:{esme}:1", esme, USER, ActivationKind.IMMEDIATE, opened, None,
            device(0x15, 1_000_000 + n), Reason.ELIGIBLE, Status.ACTIVE, opened,
            opened + timedelta(minutes=30), 1, None, OPERATORS[n % 14], opened,
        )  # fmt: skip
        batch.activations[record.request_id] = record
    store.decisions.commit(batch)


def timed(work: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def measure(database: str, ad1s: int, activations: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with open_store(database, "service", schema="create") as store:
        figures["fill_s"], _ = timed(lambda: fill(store, ad1s, activations))
        if store.db.dialect == "postgresql":
            # What autovacuum's analyze does after a load: fresh statistics. Without them the
            # planner may read a release's UPDATE through the partial index of unreleased
            # entries (4 ms an entry here) instead of alert_id's unique one (0.05 ms).
            with store.transaction():
                store.db.run("ANALYZE")
        since, until = START, NOW  # a month
        figures["summary_one_dno_daily_s"], found = timed(
            lambda: summarise(store, frozenset({"12"}), since, until, daily=True)
        )
        assert found.days is not None
        assert len(found.days) == 30
        figures["summary_every_dno_daily_s"], _ = timed(
            lambda: summarise(store, None, since, until, daily=True)
        )
        which = OutcomeFilter(
            suppressed=True, network_operators=frozenset({"12"}), since=since, until=until
        )
        process = psutil.Process(os.getpid())
        before = process.memory_info().rss

        @contextlib.contextmanager
        def borrow() -> Iterator[Store]:
            yield store

        def download() -> int:
            return sum(chunk.count("\n") for chunk in csv_chunks(borrow, which)) - 1

        figures["csv_one_dno_month_s"], rows = timed(download)
        figures["csv_rows"] = rows
        figures["csv_rows_per_s"] = round(rows / figures["csv_one_dno_month_s"])
        figures["csv_rss_growth_mb"] = round((process.memory_info().rss - before) / 2**20, 1)
        figures["open_windows_s"], page = timed(
            lambda: store.activations.windows_page(open_at=NOW, limit=1000)
        )
        assert len(page) == 1000
        ids = [f"AD1-{n}" for n in random.Random(2).sample(range(ad1s), 200)]
        spent, _ = timed(lambda: [explain(store, i, None) for i in ids])
        figures["explain_mean_ms"] = round(spent / len(ids) * 1000, 2)
        wanted = ReleaseRequest(network_operator="12", since=since, until=until)
        figures["release_one_dno_month_s"], done = timed(
            lambda: release(store, wanted, "benchmark", NOW)
        )
        figures["released"] = done.released
        figures["released_per_s"] = round(done.released / figures["release_one_dno_month_s"])
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ad1", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--activations", type=int, default=200_000)
    args = parser.parse_args()
    results: dict[str, Any] = {"ad1": args.ad1, "activations": args.activations}
    backends = args.backends.split(",")
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as folder:
            database = f"sqlite:///{folder}/controls.db"
            results["sqlite"] = measure(database, args.ad1, args.activations)
            print("sqlite", json.dumps(results["sqlite"]), flush=True)
    if "postgres" in backends:
        postgres = PostgresServer(durable=True)
        postgres.start()
        try:
            results["postgres"] = measure(postgres.fresh_database(), args.ad1, args.activations)
            print("postgres", json.dumps(results["postgres"]), flush=True)
        finally:
            postgres.stop()
    out = Path("bench-output/controls")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
