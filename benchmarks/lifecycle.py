"""Data lifecycle (spec §15): how big the store gets, what a maintenance pass costs, and what it
does to decisions meanwhile, on SQLite and PostgreSQL.

For each backend, on a new store (SQLite: the service's durable mode, in the output folder;
PostgreSQL: a server of Debian's binaries with fsync on, as production has it):

1. **Bytes per row**: ``--ad1s`` AD1 outcomes (a share suppressed), then as many activations as
   half of them, then ``--ad1s`` device messages, written as the decision path writes them
   (``Batch`` commits of 10,000) over ``--days`` simulated days; the store's size on disk
   (``Store.size_bytes``: SQLite's file and WAL after a checkpoint, PostgreSQL's tables and
   indexes) is read after each kind, and the growth divided by the rows.
2. **A purge**: ``poagate maintenance``'s pass at the end of the simulated span, with the
   default retention (forwarded AD1s 90 days, signs of life 48 hours, ...): rows purged and the
   seconds it took, then the size after it.
3. **Purge cost and rows kept**: on new stores, a pass purging ``--ad1s`` / 4 forwarded AD1s
   past retention from a store that keeps ``--ad1s`` younger ones, then four times as many
   (``--purged`` and ``--kept`` choose other sizes; ``--kept-only`` runs only this step): the
   deletes' seconds, and the seconds their steps held the writer (the work, without the rests).
4. **Decisions during a purge**: a thread commits one decision at a time (a ``Batch`` of one
   forwarded AD1: the write transaction a group of the ingestor makes) on its own connection,
   from ``--probe-seconds`` before a second purge (of a second, equal load of forwarded AD1s,
   past retention by then), run on another connection, to ``--probe-within`` seconds into it,
   and again for ``--probe-seconds`` after it; the p50 and p99 of a commit without the purge
   (before and after it) and during it, and how often the pass yielded to them.

The year at national rate (20 M AD1s) is ``benchmarks/lifecycle_year.py``; this one measures
the figures per row and the purge beside decisions in a few minutes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Generic, TypeVar

# This folder's http.py would shadow the standard library's http package (httpx imports it).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pg import PostgresServer

from poagate.domain.events import ActivationKind, DeviceMessage
from poagate.domain.outcomes import ActivationRecord, ForwardedAlert, Status, SuppressionEntry
from poagate.domain.rules import Reason
from poagate.formats.timestamps import parse_timestamp
from poagate.service.maintenance import maintain
from poagate.store import pacing
from poagate.store.batch import Batch
from poagate.store.database import open_store
from poagate.store.store import Store

# this folder last (its http.py must not shadow the standard library's), for benchlib
sys.path.append(str(Path(__file__).resolve().parent))
from benchlib import cpu_ms

START = parse_timestamp("2026-01-01T00:00:00Z", "benchmark")
CHUNK = 10_000
HUBS = 200_000
ORIGINATOR = "90-B3-D5-1F-30-01-00-00"


def hub(n: int) -> str:
    return f"00-DB-{n >> 24 & 255:02X}-{n >> 16 & 255:02X}-{n >> 8 & 255:02X}-{n & 255:02X}-00-C0"


def esme(n: int) -> str:
    return hub(n)[:-2] + "A0"


Clock = Callable[[int], datetime]  # the time of the n-th row
T = TypeVar("T")


def across(start: datetime, span: timedelta, first: int, count: int) -> Clock:
    """Rows ``first`` .. ``first + count`` evenly over ``span`` from ``start``."""
    step = span / max(1, count)
    return lambda n: start + step * (n - first)


def outcomes(first: int, count: int, at: Clock, suppressed: float) -> Batch:
    """AD1 outcomes ``first`` .. ``first + count``, the n-th at ``at(n)``, a share suppressed
    (their entries name activations no row holds: ``U:``, so none is kept for them)."""
    rows: list[SuppressionEntry | ForwardedAlert] = []
    for n in range(first, first + count):
        when = at(n)
        chf, operator = hub(n % HUBS), f"{10 + n % 14}"
        if (n * 7919) % 1000 < suppressed * 1000:
            rows.append(
                SuppressionEntry(
                    f"AD1-{n:09d}", chf, esme(n % HUBS), "1012345678901", operator, when,
                    when, when, f"U:{esme(n % HUBS)}:{n}", ORIGINATOR,
                    when - timedelta(minutes=5), when + timedelta(minutes=25),
                )
            )  # fmt: skip
        else:
            rows.append(ForwardedAlert(f"AD1-{n:09d}", chf, operator, when, when, when))
    return Batch(ad1_outcomes=rows)


def activations(first: int, count: int, at: Clock) -> Batch:
    records = {}
    for n in range(first, first + count):
        when = at(n)
        request_id = f"{ORIGINATOR}:{esme(n % HUBS)}:{n}"
        records[request_id] = ActivationRecord(
            request_id, esme(n % HUBS), ORIGINATOR, ActivationKind.IMMEDIATE, when, None,
            hub(n % HUBS), Reason.ELIGIBLE, Status.ACTIVE, when, when + timedelta(minutes=30), 1,
            "1012345678901", f"{10 + n % 14}", when, command_variant=4,
        )  # fmt: skip
    return Batch(activations=records)


def messages(first: int, count: int, at: Clock) -> Batch:
    return Batch(
        device_messages=[DeviceMessage(esme(n % HUBS), at(n)) for n in range(first, first + count)]
    )


def size(store: Store) -> int:
    if store.db.dialect == "sqlite":
        store.db.run("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        store.db.run("ANALYZE")
    return store.size_bytes()


def write(store: Store, make: Callable[[int, int], Batch], total: int) -> float:
    began = time.perf_counter()
    for first in range(0, total, CHUNK):
        store.decisions.commit(make(first, min(CHUNK, total - first)))
    return time.perf_counter() - began


def commit(store: Store, batch: Batch) -> None:
    """One write transaction of decisions, numbered after what the other writer committed."""
    with store.transaction():
        store.decisions.forget_sequence()
        store.decisions.commit(batch)


def probe(
    database: str, at: Clock, stop: threading.Event, tag: str, took: list[tuple[float, float]]
) -> None:
    """Commit one forwarded AD1 at a time (the n-th received at ``at(n)``) on a connection of
    its own until ``stop``, every 2 ms: when each commit began (``time.perf_counter``) and its
    seconds, into ``took``."""
    with open_store(database, "service") as store:
        n = 0
        while not stop.is_set():
            when = at(n)
            began = time.perf_counter()
            commit(
                store,
                Batch(ad1_outcomes=[ForwardedAlert(f"P{tag}-{n}", hub(n), "12", when, when, when)]),
            )
            took.append((began, time.perf_counter() - began))
            n += 1
            time.sleep(0.002)


@dataclass
class Probed(Generic[T]):
    """What ``beside_probe`` measured: the work's result and seconds, and the commits without
    it (just before and just after) and during it, each ``(began, seconds)``."""

    result: T
    seconds: float
    quiet: list[tuple[float, float]]
    during: list[tuple[float, float]]


def beside_probe(
    database: str, at: Clock, tag: str, work: Callable[[], T], around: float, within: float
) -> Probed[T]:
    """Run ``work`` with ``probe`` committing beside it: from ``around`` seconds before it to
    ``within`` seconds into it (or its end, if sooner), then again for ``around`` seconds after
    it. Only the first ``within`` seconds are probed: a pass yields to decisions
    (``store.pacing``), so a probe throughout would stretch a long pass many times over."""
    took: list[tuple[float, float]] = []
    stop = threading.Event()
    worker = threading.Thread(target=probe, args=(database, at, stop, tag, took), daemon=True)
    worker.start()
    time.sleep(around)
    began = time.perf_counter()
    timer = threading.Timer(within, stop.set)
    timer.start()
    result = work()
    ended = time.perf_counter()
    timer.cancel()
    stop.set()
    worker.join()
    probed_until = min(ended, began + within)
    after: list[tuple[float, float]] = []
    stop = threading.Event()
    worker = threading.Thread(
        target=probe, args=(database, at, stop, tag + "-after", after), daemon=True
    )
    worker.start()
    time.sleep(around)
    stop.set()
    worker.join()
    return Probed(
        result,
        ended - began,
        [t for t in took if t[0] < began] + after,
        [t for t in took if began <= t[0] <= probed_until],
    )


def quantiles_ms(took: list[tuple[float, float]]) -> tuple[float, float]:
    cuts = statistics.quantiles([seconds for _, seconds in took], n=100)
    return cuts[49] * 1000, cuts[98] * 1000


def run(database: str, args: argparse.Namespace) -> dict[str, float]:
    span = timedelta(days=args.days)
    n = args.ad1s
    figures: dict[str, float] = {}
    with open_store(database, "service", schema="create") as store:
        empty = size(store)
        figures["write_ad1_s"] = write(
            store, lambda f, c: outcomes(f, c, across(START, span, f, c), args.suppressed), n
        )
        with_ad1 = size(store)
        write(store, lambda f, c: activations(f, c, across(START, span, f, c)), n // 2)
        with_activations = size(store)
        write(store, lambda f, c: messages(f, c, across(START, span, f, c)), n)
        full = size(store)
        figures["bytes_per_ad1"] = (with_ad1 - empty) / n
        figures["bytes_per_activation"] = (with_activations - with_ad1) / (n // 2)
        figures["bytes_per_device_message"] = (full - with_activations) / n
        figures["size_before_purge_mb"] = full / 2**20
        now = START + span
        began = time.perf_counter()
        done = maintain(store, now)
        figures["purge_s"] = time.perf_counter() - began
        figures["rows_purged"] = sum(done.purged.values())
        figures["size_after_purge_mb"] = size(store) / 2**20
        # A second span of forwarded AD1s (rows are written in time order, as decided), for the
        # purge the probe runs beside: 91 days after it, every one of them is past retention.
        write(store, lambda f, c: outcomes(n + f, c, across(START + span, span, n + f, c), 0.0), n)
    with open_store(database, "service") as store:
        # Without a purge: the commits just before it and just after, so that they share the
        # machine's load of the moment with those during it.
        probed = beside_probe(
            database,
            lambda n: START + timedelta(days=400, seconds=n),
            "U",
            lambda: maintain(store, START + 2 * span + timedelta(days=91)),
            args.probe_seconds,
            args.probe_within,
        )
    figures["purge_under_load_s"] = probed.seconds
    figures["rows_purged_under_load"] = sum(probed.result.purged.values())
    figures["purge_yields"] = probed.result.purge_yields
    figures["p50_quiet_ms"], figures["p99_quiet_ms"] = quantiles_ms(probed.quiet)
    figures["p50_during_purge_ms"], figures["p99_during_purge_ms"] = quantiles_ms(probed.during)
    figures["commits_during_purge"] = len(probed.during)
    return figures


def purge_cost(database: str, purged: int, kept: int) -> dict[str, float]:
    """A pass purging ``purged`` forwarded AD1s past retention from a store that keeps ``kept``
    younger ones (written after them, as they would be decided): its deletes' seconds, and of
    them the seconds its steps held the writer (the purge's own cost, without its rests)."""
    with open_store(database, "service", schema="create") as store:
        day, later = timedelta(days=1), START + timedelta(days=60)
        write(store, lambda f, c: outcomes(f, c, across(START, day, f, c), 0.0), purged)
        write(
            store,
            lambda f, c: outcomes(purged + f, c, across(later, 60 * day, purged + f, c), 0.0),
            kept,
        )
        size(store)
        done = maintain(store, START + timedelta(days=121))
        assert done.purged["forwarded"] == purged, done.purged
    print(
        f"purged {purged:,} with {kept:,} kept: deletes {done.purge_seconds:.1f} s, holding "
        f"the writer {done.purge_held_seconds:.1f} s "
        f"({done.purge_held_seconds / purged * 1e6:.1f} µs a row)",
        flush=True,
    )
    return {
        f"purge_{purged}_kept_{kept}_s": done.purge_seconds,
        f"purge_{purged}_kept_{kept}_held_s": done.purge_held_seconds,
    }


# "A year at N AD1s a day" (docs/operations.md): what a day of traffic brings besides its AD1s.
ACTIVATIONS_PER_AD1 = 0.5
MESSAGES_PER_AD1 = 5.0
RATES = (10_000, 55_000, 100_000, 1_000_000)  # 55,000 a day: 20 M a year


def year_gb(figures: dict[str, float], per_day: int, suppressed: float) -> dict[str, float]:
    """The store's size in GB for ``per_day`` AD1s a day, from the bytes per row measured: after
    a year with no purge, after a year with the default retention, and once the longest default
    retention (the Suppression Log's 730 days) is reached."""
    ad1, act, msg = (
        figures["bytes_per_ad1"],
        figures["bytes_per_activation"],
        figures["bytes_per_device_message"],
    )

    def size(log_days: float, forwarded_days: float, act_days: float, msg_days: float) -> float:
        rows = per_day * (suppressed * log_days + (1 - suppressed) * forwarded_days)
        acts = per_day * ACTIVATIONS_PER_AD1 * act_days
        msgs = per_day * MESSAGES_PER_AD1 * msg_days
        return (rows * ad1 + acts * act + msgs * msg) / 1e9

    return {
        "year_no_purge_gb": size(365, 365, 365, 365),
        "year_retention_gb": size(365, 90, 365, 2),
        "steady_retention_gb": size(730, 90, 400, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ad1s", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=120, help="simulated span of the writes")
    parser.add_argument("--suppressed", type=float, default=0.3, help="share suppressed")
    parser.add_argument("--probe-seconds", type=float, default=5.0, help="before and after")
    parser.add_argument(
        "--probe-within", type=float, default=20.0, help="seconds of the purge probed"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench-output" / "lifecycle")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--budget-ms", type=float, default=pacing.BUDGET_SECONDS * 1000, help="a purge step"
    )
    parser.add_argument("--rest", type=float, default=pacing.REST, help="rest ÷ step")
    parser.add_argument(
        "--yield-seconds",
        type=float,
        default=pacing.YIELD_SECONDS,
        help="the longer rest while other writers write (0: the pass does not yield)",
    )
    parser.add_argument(
        "--kept",
        type=lambda text: [int(n) for n in text.split(",")],
        help="rows kept in the purge-cost step, comma-separated (default: --ad1s and 4 times)",
    )
    parser.add_argument("--purged", type=int, help="rows purged there (default: --ad1s / 4)")
    parser.add_argument(
        "--kept-only", action="store_true", help="only the purge-cost step (3 above)"
    )
    parser.add_argument(
        "--probe-only", action="store_true", help="without the purge-cost step (3 above)"
    )
    args = parser.parse_args()
    print(f"cpu {cpu_ms():.0f} ms (benchlib.cpu_ms)", flush=True)
    pacing.BUDGET_SECONDS, pacing.REST = args.budget_ms / 1000, args.rest
    pacing.YIELD_SECONDS = args.yield_seconds
    if not args.yield_seconds:
        pacing.YIELD = 0.0
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, float]] = {}
    kept_sizes = [] if args.probe_only else args.kept or (args.ad1s, 4 * args.ad1s)
    purged = args.purged or args.ad1s // 4

    def sqlite_store(name: str) -> str:
        db_file = args.out / f"{name}.db"
        for suffix in ("", "-wal", "-shm", ".lock", ".write.lock"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{db_file}"

    if args.backend in ("sqlite", "both"):
        results["sqlite"] = {} if args.kept_only else run(sqlite_store("lifecycle"), args)
        for kept in kept_sizes:
            results["sqlite"].update(purge_cost(sqlite_store(f"kept-{kept}"), purged, kept))
    if args.backend in ("postgres", "both"):
        postgres = PostgresServer(durable=True)
        postgres.start()
        try:
            results["postgres"] = {} if args.kept_only else run(postgres.fresh_database(), args)
            for kept in kept_sizes:
                results["postgres"].update(purge_cost(postgres.fresh_database(), purged, kept))
        finally:
            postgres.stop()
    print(f"{args.ad1s:,} AD1 outcomes ({args.suppressed:.0%} suppressed) over {args.days} days")
    names = list(next(iter(results.values())))
    print(f"{'figure':<28}" + "".join(f"{b:>14}" for b in results))
    for name in names:
        print(f"{name:<28}" + "".join(f"{r.get(name, 0):>14,.2f}" for r in results.values()))
    (args.out / "lifecycle.json").write_text(json.dumps(results, indent=1))
    if args.kept_only:
        return
    print(
        f"\nA year at N AD1s a day ({args.suppressed:.0%} suppressed, {ACTIVATIONS_PER_AD1} "
        f"activations and {MESSAGES_PER_AD1:g} device messages an AD1; GB)"
    )
    for per_day in RATES:
        for backend, figures in results.items():
            sizes = year_gb(figures, per_day, args.suppressed)
            print(
                f"{per_day:>10,} {backend:<9}"
                + "".join(f" {name} {value:8.1f}" for name, value in sizes.items())
            )


if __name__ == "__main__":
    main()
