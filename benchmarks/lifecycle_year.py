"""A year of traffic, compressed (spec §15): the store's size month by month, what each month's
maintenance pass costs and does to decisions meanwhile, and the Suppression Log's query latency
at the start and the end of the year, on SQLite and PostgreSQL.

For each backend, on a new store (SQLite: the service's durable mode; PostgreSQL: a server of
Debian's binaries with fsync on), month by month for ``--months`` months of 30 days:

1. **A month's traffic**, written as the decision path writes it (``Batch`` commits of
   ``CHUNK`` rows, on synthetic clocks, each table in time order): ``--per-day`` AD1 outcomes a
   day (``--suppressed`` of them Suppression Log entries, over 14 DNOs and 200,000 hubs), then
   ``--activations-per-ad1`` activations an AD1, then ``--messages-per-ad1`` device messages an
   AD1. The store's size (SQLite: file and WAL after a checkpoint; PostgreSQL: tables and
   indexes) is read after each kind in the first month (bytes per row) and after each month.
2. **The month's maintenance pass** (``poagate maintenance``'s, at the month's end) with the
   retention given (``--log-days`` and ``--activations-days``; the other kinds at their
   defaults). A probe thread commits one forwarded AD1 at a time on its own connection (the
   write transaction a group of the ingestor makes), from ``--probe-seconds`` before the pass
   to ``--probe-within`` seconds into it, and again for ``--probe-seconds`` after it: the p99
   of a commit without the pass (before and after it) and during it. (A pass yields to
   decisions, ``store.pacing``: probed throughout, a month's pass would take hours.) The
   pass's deletes are timed whole and as the time their steps held the writer
   (``MaintenancePass.purge_held_seconds``): the whole is about five times the held time by
   design when no decision comes (``store.pacing`` rests four times as long as a step held
   the writer), so the held time, a row, is the purge's own cost to compare month by month.
3. **The Suppression Log's queries**, after every third month's pass and the last: one DNO's
   first page of the last month (the API's page of 100, ``outcomes_page``), and the CSV export
   of that DNO's last month (``csv_chunks``, what ``GET /v1/suppression-log?all=true`` streams):
   the median of ``REPEATS`` runs of each.

The size with retention off is worked out from the bytes per row measured in the first month
(no pass purges anything in it): rows written so far × bytes per row.

    .venv/bin/python benchmarks/lifecycle_year.py --per-day 55000 --backend both
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

# This folder's http.py would shadow the standard library's http package (httpx imports it).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pg import PostgresServer

from poagate.formats.settings import Retention, Settings
from poagate.formats.timestamps import parse_timestamp
from poagate.service.configuration import change_configuration
from poagate.service.export import csv_chunks
from poagate.service.maintenance import maintain
from poagate.store.alerts.listings import OutcomeFilter
from poagate.store.database import open_store
from poagate.store.ports import LogReaders
from poagate.store.store import Store

# this folder last (its http.py must not shadow the standard library's): bytes a row → a year
sys.path.append(str(ROOT / "benchmarks"))
from benchlib import cpu_ms
from lifecycle import RATES, activations, beside_probe, commit, messages, outcomes, size, year_gb

START = parse_timestamp("2026-01-01T00:00:00Z", "benchmark")
MONTH = timedelta(days=30)
CHUNK = 20_000  # rows a commit
DNO = "12"  # the DNO whose log is queried
PAGE = 100
REPEATS = 3


def at_moment(moment: datetime, row: int) -> datetime:
    """A clock (``lifecycle.Clock``) that gives every row ``moment``."""
    return moment


def write_month(store: Store, kind: str, month: int, per_month: int) -> float:
    """Write the month's rows of ``kind``, evenly over the month; seconds it took."""
    step = MONTH / per_month

    def at(n: int) -> datetime:  # the n-th row of the year
        return START + step * n

    began = time.perf_counter()
    for first in range(month * per_month, (month + 1) * per_month, CHUNK):
        count = min(CHUNK, (month + 1) * per_month - first)
        if kind == "ad1":
            batch = outcomes(first, count, at, ARGS.suppressed)
        elif kind == "activation":
            batch = activations(first, count, at)
        else:
            batch = messages(first, count, at)
        commit(store, batch)
    return time.perf_counter() - began


def p99_ms(took: list[tuple[float, float]]) -> float:
    if len(took) < 2:
        return float("nan")
    return statistics.quantiles([seconds for _, seconds in took], n=100)[98] * 1000


def log_queries(database: str, month: int) -> dict[str, float]:
    """Milliseconds (median of ``REPEATS``) of the DNO's first page of month ``month`` and of
    the CSV export of that month, read as the API reads them."""
    since, until = START + MONTH * month, START + MONTH * (month + 1)
    which = OutcomeFilter(suppressed=True, network_operators=frozenset({DNO}), since=since,
                          until=until)  # fmt: skip
    with open_store(database, "read") as store:

        @contextmanager
        def borrow() -> Iterator[LogReaders]:
            yield store

        pages, exports, rows = [], [], 0
        for _ in range(REPEATS):
            began = time.perf_counter()
            found = store.listings.outcomes_page(which, None, PAGE + 1)
            pages.append(time.perf_counter() - began)
            assert len(found) == PAGE + 1, len(found)
            began = time.perf_counter()
            rows = sum(chunk.count("\n") for chunk in csv_chunks(borrow, which)) - 1
            exports.append(time.perf_counter() - began)
    return {
        "page_ms": statistics.median(pages) * 1000,
        "export_ms": statistics.median(exports) * 1000,
        "export_rows": rows,
    }


def year(
    database: str, args: argparse.Namespace, figures: dict[str, object], save: Callable[[], None]
) -> None:
    """Run the year on ``database``, into ``figures``; ``save`` after each month (a run stopped
    part-way keeps the months it ran)."""
    per_month = args.per_day * 30
    acts_month = int(per_month * args.activations_per_ad1)
    msgs_month = int(per_month * args.messages_per_ad1)
    figures.update({"months": [], "per_day": args.per_day})
    months: list[dict[str, float]] = figures["months"]  # type: ignore[assignment]
    with open_store(database, "service", schema="create") as store:
        retention = Retention(
            suppression_log_days=args.log_days, activations_days=args.activations_days
        )
        change_configuration(store, Settings(retention=retention), "benchmark", START)
        empty = size(store)
        for month in range(args.months):
            row: dict[str, float] = {"month": month + 1, "cpu_ms": cpu_ms()}
            row["write_s"] = write_month(store, "ad1", month, per_month)
            if month == 0:
                with_ad1 = size(store)
            row["write_s"] += write_month(store, "activation", month, acts_month)
            if month == 0:
                with_acts = size(store)
            row["write_s"] += write_month(store, "message", month, msgs_month)
            row["size_before_mb"] = size(store) / 2**20
            if month == 0:
                figures["bytes_per_ad1"] = (with_ad1 - empty) / per_month
                figures["bytes_per_activation"] = (with_acts - with_ad1) / acts_month
                figures["bytes_per_device_message"] = (
                    row["size_before_mb"] * 2**20 - with_acts
                ) / msgs_month
                figures["empty_bytes"] = empty
            now = START + MONTH * (month + 1)
            # Without a pass: the commits just before it and just after, so that both share the
            # machine's load of the moment with the commits during it (its first
            # --probe-within seconds: a pass yields to decisions, store.pacing).
            probed = beside_probe(
                database,
                partial(at_moment, now),
                str(month),
                partial(maintain, store, now),
                args.probe_seconds,
                args.probe_within,
            )
            done = probed.result
            row["purge_s"] = probed.seconds
            row["delete_s"] = done.purge_seconds  # the deletes alone
            # of which its steps held the writer: the deletes' own cost, without the rests
            # (four times as long) that multiply whatever slowed a step
            row["delete_held_s"] = done.purge_held_seconds
            row["space_s"] = done.space_seconds  # SQLite: incremental vacuum; PostgreSQL: VACUUM
            row["rows_purged"] = sum(done.purged.values())
            row["purge_yields"] = done.purge_yields
            row["p99_quiet_ms"] = p99_ms(probed.quiet)
            row["p99_during_ms"] = p99_ms(probed.during)
            row["commits_during"] = len(probed.during)
            row["size_after_mb"] = size(store) / 2**20
            rows_so_far = month + 1
            row["size_off_mb"] = (
                empty
                + rows_so_far * per_month * float(figures["bytes_per_ad1"])  # type: ignore[arg-type]
                + rows_so_far * acts_month * float(figures["bytes_per_activation"])  # type: ignore[arg-type]
                + rows_so_far * msgs_month * float(figures["bytes_per_device_message"])  # type: ignore[arg-type]
            ) / 2**20
            if month % 3 == 0 or month == args.months - 1:
                for name, value in log_queries(database, month).items():
                    row[name] = value
            months.append(row)
            print(json.dumps(row), flush=True)
            save()


def chart(results: dict[str, dict[str, Any]], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (sizes, purges, p99s) = plt.subplots(1, 3, figsize=(15, 4.2))
    for backend, figures in results.items():
        months = figures["months"]
        backend = f"{backend}, {figures['per_day'] * 360 / 1e6:.1f} M AD1s"
        x = [m["month"] for m in months]
        line = sizes.plot(
            x,
            [m["size_after_mb"] / 1024 for m in months],
            marker="o",
            label=f"{backend}, retention on (after the month's pass)",
        )
        sizes.plot(
            x,
            [m["size_off_mb"] / 1024 for m in months],
            linestyle="--",
            color=line[0].get_color(),
            label=f"{backend}, retention off (bytes a row)",
        )
        whole = purges.plot(
            x, [m["purge_s"] for m in months], marker="o", label=f"{backend}, the pass"
        )
        purges.plot(
            x,
            [m.get("delete_s", float("nan")) for m in months],
            linestyle=":",
            color=whole[0].get_color(),
            label=f"{backend}, its deletes",
        )
        purges.plot(
            x,
            [m.get("delete_held_s", float("nan")) for m in months],
            linestyle="--",
            color=whole[0].get_color(),
            label=f"{backend}, its deletes holding the writer",
        )
        quiet = p99s.plot(
            x,
            [m["p99_quiet_ms"] for m in months],
            linestyle="--",
            label=f"{backend}, without a pass",
        )
        p99s.plot(
            x,
            [m["p99_during_ms"] for m in months],
            marker="o",
            color=quiet[0].get_color(),
            label=f"{backend}, during the pass",
        )
    sizes.set_title("Store size")
    sizes.set_ylabel("GiB on disk")
    purges.set_title("Each month's maintenance pass")
    purges.set_ylabel("seconds")
    p99s.set_title("A decision's commit, p99")
    p99s.set_ylabel("ms")
    for axes in (sizes, purges, p99s):
        axes.set_xlabel("simulated month")
        axes.set_ylim(bottom=0)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def table(results: dict[str, dict[str, Any]]) -> str:
    """The figures as a Markdown table a backend (docs/performance.md)."""
    lines = []
    for backend, figures in results.items():
        lines += [
            f"\n{backend}, {figures['per_day']:,} AD1s a day: "
            f"{figures['bytes_per_ad1']:.0f} B an AD1, "
            f"{figures['bytes_per_activation']:.0f} B an activation, "
            f"{figures['bytes_per_device_message']:.0f} B a device message\n",
            "| month | written, s | size before pass, MB | rows purged | pass, s "
            "| its deletes, s (µs a row) | holding the writer, s (µs a row) | size after, MB "
            "| retention off, MB | p99 without, ms | p99 during, ms | commits during |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for m in figures["months"]:
            deletes = m.get("delete_s", float("nan"))
            held = m.get("delete_held_s", float("nan"))
            rows = m["rows_purged"] or float("nan")
            lines.append(
                f"| {m['month']} | {m['write_s']:.0f} | {m['size_before_mb']:,.0f} | "
                f"{m['rows_purged']:,} | {m['purge_s']:.1f} | "
                f"{deletes:.1f} ({deletes / rows * 1e6:.0f}) | "
                f"{held:.1f} ({held / rows * 1e6:.0f}) | "
                f"{m['size_after_mb']:,.0f} | "
                f"{m['size_off_mb']:,.0f} | {m['p99_quiet_ms']:.1f} | {m['p99_during_ms']:.1f} | "
                f"{m['commits_during']:,} |"
            )
        lines.append(
            "\nA year at N AD1s a day from these bytes a row (docs/operations.md, "
            "lifecycle.year_gb): GB after a year with no purge, after a year with the default "
            "retention, and from two years on"
        )
        for per_day in RATES:
            gb = year_gb(figures, per_day, 0.3)
            lines.append(f"{per_day:>10,}: " + " / ".join(f"{v:.1f}" for v in gb.values()))
        ends = [m for m in figures["months"] if "page_ms" in m]
        for m in ends:
            lines.append(
                f"\nmonth {m['month']}: a DNO's page {m['page_ms']:.1f} ms, the CSV export of "
                f"its month ({m['export_rows']:,} entries) {m['export_ms']:.0f} ms"
            )
    return "\n".join(lines)


ARGS: argparse.Namespace


def main() -> None:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--per-day", type=int, default=55_000, help="AD1s a day (55,000: 20 M a year)"
    )
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--suppressed", type=float, default=0.3)
    parser.add_argument("--activations-per-ad1", type=float, default=0.5)
    parser.add_argument("--messages-per-ad1", type=float, default=1.0)
    parser.add_argument("--log-days", type=int, default=180)
    parser.add_argument("--activations-days", type=int, default=180)
    parser.add_argument("--probe-seconds", type=float, default=3.0, help="before and after")
    parser.add_argument(
        "--probe-within", type=float, default=20.0, help="seconds of each pass probed"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench-output" / "lifecycle-year")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--chart", type=Path, help="draw the chart (PNG) here")
    parser.add_argument(
        "--report",
        type=Path,
        nargs="+",
        help="only print the table and draw the chart from these runs' year.json (no run)",
    )
    ARGS = args = parser.parse_args()
    if args.report:
        reported: dict[str, dict[str, object]] = {}
        for saved in args.report:
            run = json.loads(saved.read_text())
            for figures in run["results"].values():
                figures.setdefault("per_day", int(run["args"]["per_day"]))
            reported.update(run["results"])
        print(table(reported))
        if args.chart:
            chart(reported, "A year compressed", args.chart)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, object]] = {}

    def save() -> None:
        summary = {"args": {k: str(v) for k, v in vars(args).items()}, "results": results}
        (args.out / "year.json").write_text(json.dumps(summary, indent=1))

    if args.backend in ("sqlite", "both"):
        db_file = args.out / "year.db"
        for suffix in ("", "-wal", "-shm", ".lock", ".write.lock"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        print("sqlite", flush=True)
        year(f"sqlite:///{db_file}", args, results.setdefault("sqlite", {}), save)
    if args.backend in ("postgres", "both"):
        postgres = PostgresServer(durable=True)
        postgres.start()
        try:
            print("postgres", flush=True)
            year(postgres.fresh_database(), args, results.setdefault("postgres", {}), save)
        finally:
            postgres.stop()
    save()
    print(table(results))
    if args.chart:
        chart(results, "A year compressed", args.chart)


if __name__ == "__main__":
    main()
