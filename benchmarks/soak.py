"""A long storm through two servers on PostgreSQL: memory flat, latency steady, nothing lost.

    .venv/bin/python benchmarks/soak.py [--minutes 30] [--ad1-per-second 100] [--esmes 20000]

Two ``poagate serve`` processes (deliveries on) share one PostgreSQL started from Debian's
binaries with fsync on (tests/pg.py; never the machine's own server). The guards are on:
release-if-dark, area-outage and verification (docs/guards.md). Each DNO's webhook is an HTTP
receiver of its own on 127.0.0.1 that checks every signature and counts what it gets.

The DSP's side and the receivers each run in a process of their own (soaklib.DspProcess,
soaklib.ReceiverProcess), so that the clock that times each answer shares its interpreter with
nothing else (in one process with the receivers' threads and the samplers, it measured a tail
the wire did not show: docs/performance.md, "Soak"). For ``--minutes`` the DSP's side sends,
each second and to the servers in turn (the second's requests started one after another
across it, in a shuffled order; ``--lockstep``: all at its start, as until 2026-12-06): AD1s
(some one DUIS message a request, whose round trip is the decision latency measured, the rest
in two JSON Lines batches; a share from hubs whose meter just had its firmware activated, so
that they are suppressed), SRV 11.3 Activate Firmware requests (DUIS), device messages, a burst
of AD1s from every hub of one postcode sector each minute (an area outage), and every five
seconds it answers most of the pending verification requests with a message from the site
(the rest are released at their deadline).

Every 10 s the resident memory of each server and of PostgreSQL (postmaster and backends) is
sampled; every minute, each server's own account of the writers' lock and of its slowest
requests and group transactions (its ``/metrics``). After the load, the deliveries are given
``--drain-seconds`` to finish, the servers are stopped, and the store and the receivers are
compared: every AD1 sent has exactly one outcome; every AD1 forwarded or released was received
by its own DNO exactly once, signed (or is still queued: counted); no answer was a 5xx. Prints
the figures and writes bench-output/soak/results.json and, unless --no-chart, docs/img/soak.png
(memory and p99 by minute).
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder holds http.py, which would shadow the standard library's http package: search
# it last (for benchlib and soaklib).
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import psutil
import psycopg

ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import stop_process, wait_until_ready
from tests.pg import PostgresServer, free_port

from benchlib import cpu_ms, http_benchmark
from pgwatch import LockWatch, wal_figures
from poagate.delivery.signing import new_secret
from poagate.sim.fleet import FleetSpec, generate_fleet
from soaklib import (
    CALM_STEAL_PERCENT,
    DspProcess,
    MemorySampler,
    ReceiverProcess,
    ServerSampler,
    Shape,
    StatementSampler,
    Tally,
    beyond_the_bar,
    checkpoints,
    growth,
    per_minute,
    slow_plans,
    steadiness,
)

OPERATORS = [str(n) for n in range(10, 24)]
POLL = {  # the servers' background passes, often enough for a run of minutes
    "POAGATE_DELIVERY_POLL_SECONDS": "0.2",
    "POAGATE_RELEASE_POLL_SECONDS": "5",
    "POAGATE_VERIFICATION_POLL_SECONDS": "5",
}


def serve(database: str, log: Path, heap_dir: Path | None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "poagate.cli", "serve", "--database", database]
    command += ["--port", str(port), "--log-level", "warning"]
    env = {**os.environ, **POLL, "PYTHONUNBUFFERED": "1"}
    if heap_dir is not None:  # soak_heap/sitecustomize.py writes the heap's figures there
        env["PYTHONPATH"] = os.pathsep.join([str(HERE / "soak_heap"), env.get("PYTHONPATH", "")])
        env["SOAK_HEAP_DIR"] = str(heap_dir)
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, env=env)
    if not wait_until_ready(url, process):
        stop_process(process)
        raise SystemExit(f"a server did not start: see {log}")
    return process, url


def guard_settings(shape: Shape, sectors: int, verify_attempts: int) -> dict[str, int]:
    """The three guards on, with times short enough for a run of minutes. The area-outage
    threshold is four times what the background AD1s bring a sector in its ten seconds, so
    that the bursts (a sector's every hub) trip it, not the background."""
    background = shape.ad1_per_second * (1 - shape.in_window_share) * 10 / sectors
    return {
        "release_after_minutes": 3,
        "area_outage_threshold": max(10, math.ceil(4 * background)),
        "area_outage_seconds": 10,
        "verify_after_minutes": 1,
        "verify_timeout_minutes": 1,
        "verify_attempts": verify_attempts,
    }


def configure(
    url: str,
    admin: str,
    receivers: ReceiverProcess,
    secrets: dict[str, str],
    guards: dict[str, int],
) -> None:
    """The guards and every DNO's webhook, through the API as an operator would."""
    webhooks = {o: {"url": receivers.urls[o], "secret": secrets[o]} for o in OPERATORS}
    answer = httpx.put(
        f"{url}/v1/config",
        json={**guards, "delivery": {"webhooks": webhooks}},
        headers={"Authorization": f"Bearer {admin}"},
        timeout=60,
    )
    answer.raise_for_status()


def outbox_statuses(database: str) -> dict[str, int]:
    with psycopg.connect(database) as conn:
        return dict(conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall())


def drain(database: str, seconds: float, quiet: float = 6.0) -> float:
    """Wait until nothing is waiting for delivery (or ``seconds`` pass); how long it took.
    Nothing waiting must hold ``quiet`` seconds (longer than the release pass's 5 s): a
    window's entries released just after the outbox first emptied are delivered too, not
    left queued when the servers stop."""
    started = time.monotonic()
    empty_since = None
    while time.monotonic() - started < seconds:
        if outbox_statuses(database).get("pending", 0) == 0:
            empty_since = empty_since or time.monotonic()
            if time.monotonic() - empty_since >= quiet:
                return empty_since - started
        else:
            empty_since = None
        time.sleep(0.5)
    return time.monotonic() - started


def reconcile(database: str, sent: set[str], receivers: Tally) -> dict[str, Any]:
    """What the store holds against what was sent and what the receivers got."""
    with psycopg.connect(database) as conn:
        decided = [r[0] for r in conn.execute("SELECT alert_id FROM ad1_outcomes")]
        forwarded = {
            r[0]: r[1]
            for r in conn.execute(
                "SELECT alert_id, suppressed FROM ad1_outcomes "
                "WHERE suppressed = 0 OR released_at IS NOT NULL"
            )
        }
        queue: dict[str, str] = dict(conn.execute("SELECT alert_id, status FROM outbox").fetchall())
        duplicates = conn.execute("SELECT COUNT(*) FROM ad1_duplicates").fetchone()
    decided_set = set(decided)
    still_queued = {a for a in forwarded if queue.get(a) == "pending"}
    received = receivers.received
    delivered = {a for a in forwarded if received[a] >= 1}
    return {
        "ad1_sent": len(sent),
        "ad1_with_an_outcome": len(decided_set & sent),
        "ad1_without_an_outcome": len(sent - decided_set),
        "ad1_with_two_outcomes": len(decided) - len(decided_set),
        "ad1_unknown_decided": len(decided_set - sent),
        "resends_recorded_as_duplicates": duplicates[0] if duplicates else 0,
        "forwarded": sum(s == 0 for s in forwarded.values()),
        "released": sum(s == 1 for s in forwarded.values()),
        "suppressed_at_end": len(decided_set) - len(forwarded),
        "delivered": len(delivered),
        "delivered_twice_or_more": sum(1 for a in forwarded if received[a] > 1),
        "still_queued": len(still_queued),
        "dead": sum(1 for a in forwarded if queue.get(a) == "dead"),
        "lost": len(set(forwarded) - delivered - still_queued),
        "received_not_forwarded": sum(1 for a in received if a not in forwarded),
        "received_by_the_wrong_dno": receivers.wrong_operator,
        "bad_signatures": receivers.bad_signatures,
        "incomplete_requests": receivers.incomplete,
        "receiver_connections": receivers.connections,
        "anomalies": receivers.anomalies,
        "outbox": dict(sorted(Counter(queue.values()).items())),
    }


def heap_figures(heap_dir: Path | None, pids: list[int]) -> dict[str, list[dict[str, float]]]:
    """What soak_heap/sitecustomize.py wrote for each server (``--heap-stats``)."""
    found: dict[str, list[dict[str, float]]] = {}
    for name, pid in zip(("server_a", "server_b"), pids, strict=True):
        path = None if heap_dir is None else heap_dir / f"heap-{pid}.jsonl"
        if path is not None and path.exists():
            found[name] = [json.loads(line) for line in path.read_text().splitlines()]
    return found


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    samples = results["memory_samples"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    minutes = [s["t"] / 60 for s in samples]
    for key, label in (
        ("server_a_mb", "server A (RSS)"),
        ("server_b_mb", "server B (RSS)"),
        ("postgres_uss_mb", "PostgreSQL, all processes (unique)"),
    ):
        left.plot(minutes, [s[key] for s in samples], label=label)
    left.axvline(results["warmup_minutes"], color="grey", linestyle=":", label="end of warm-up")
    left.set_ylim(bottom=0)
    left.set_xlabel("minutes")
    left.set_ylabel("MiB")
    left.set_title("Memory, sampled every 10 s")
    left.legend(fontsize=8)
    rows = results["latency_per_minute"]
    right.plot([r["minute"] for r in rows], [r["p99_ms"] for r in rows], marker="o", label="p99")
    right.plot([r["minute"] for r in rows], [r["p50_ms"] for r in rows], marker=".", label="p50")
    disk = (results.get("lock_watch") or {}).get("disk_by_minute") or []
    for key, label in (
        ("wal_sync_ms_worst_s", "WAL flushing, its worst second (ms)"),
        ("io_full_worst_s", "all tasks waiting for I/O, worst second (ms)"),
    ):
        if any(key in row for row in disk):  # with --lock-watch
            right.plot(
                [r["minute"] for r in disk],
                [r.get(key, math.nan) for r in disk],
                linestyle="--",
                linewidth=1,
                label=label,
            )
    right.set_ylim(bottom=0)
    right.set_xlabel("minute")
    right.set_ylabel("ms")
    right.set_title("Decision latency of one DUIS AD1 per request")
    handles, labels = right.get_legend_handles_labels()
    steal = [(r["minute"], r.get("steal_percent", math.nan)) for r in rows]
    if any(not math.isnan(share) for _, share in steal):  # runs before 2026-12-06 have none
        stolen = right.twinx()
        stolen.bar(
            [m for m, _ in steal], [s for _, s in steal], color="grey", alpha=0.25, width=0.8
        )
        stolen.set_ylim(0, 100)
        stolen.set_ylabel("% of the CPU stolen by the hypervisor (bars)")
        handles.append(Rectangle((0, 0), 1, 1, color="grey", alpha=0.25))
        labels.append("CPU stolen, %")
    right.legend(handles, labels, fontsize=8)
    fig.suptitle(
        f"Soak: {results['minutes']} min, two servers on PostgreSQL, "
        f"{results['shape']['ad1_per_second']} AD1/s, guards on"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run(args: argparse.Namespace) -> dict[str, Any]:
    shape = Shape(
        ad1_per_second=args.ad1_per_second,
        singles_per_second=args.singles_per_second,
        device_messages_per_second=args.device_messages_per_second,
        paced=not args.lockstep,
    )
    warmup = args.warmup_minutes if args.warmup_minutes is not None else min(5, args.minutes / 3)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "servers.log"
    log.write_text("")
    bench_http = http_benchmark()
    heap_dir = None
    if args.heap_stats:
        heap_dir = args.out / "heap"
        shutil.rmtree(heap_dir, ignore_errors=True)
        heap_dir.mkdir()
    fleet = generate_fleet(FleetSpec(esmes=args.esmes, seed=11))
    libraries = ["pg_stat_statements"] if args.statements else []
    # Every autovacuum in postgres.log beside the checkpoints (PostgreSQL logs those itself).
    options = " -c log_autovacuum_min_duration=0"
    if args.slow_plans is not None:
        # Each statement slower than this logged with its plan, rows and buffers (not timings:
        # timing every node costs every statement).
        libraries.append("auto_explain")
        options += (
            f" -c auto_explain.log_min_duration={args.slow_plans} -c auto_explain.log_analyze=on"
            " -c auto_explain.log_timing=off -c auto_explain.log_buffers=on"
        )
    if args.lock_watch:
        # Waits for a lock over 100 ms logged; the time spent writing and flushing WAL counted
        # (pg_stat_wal), to tell a lock from the disk.
        options += " -c log_lock_waits=on -c deadlock_timeout=100ms -c track_wal_io_timing=on"
    if libraries:
        options = f" -c shared_preload_libraries={','.join(libraries)}" + options
    postgres = PostgresServer(durable=True, options=options.strip())
    postgres.start()
    queries: StatementSampler | None = None
    secrets = {o: new_secret() for o in OPERATORS}
    receivers = ReceiverProcess(OPERATORS, secrets)
    dsp: DspProcess | None = None
    servers: list[subprocess.Popen[bytes]] = []
    watch: LockWatch | None = None
    try:
        database = postgres.fresh_database()
        if args.statements:
            with psycopg.connect(database, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION pg_stat_statements")
            queries = StatementSampler(database)
        fleet_dir = args.out / f"fleet-{args.esmes}"
        fleet_dir.mkdir(exist_ok=True)
        dsp_token, _ = bench_http.prepare(database, fleet_dir, args.esmes)
        admin = bench_http.admin_token(database)
        urls = []
        for _ in range(2):
            process, url = serve(database, log, heap_dir)
            servers.append(process)
            urls.append(url)
        sectors = len({s.sector for s in fleet.sites})
        guards = guard_settings(shape, sectors, args.verify_attempts)
        configure(urls[0], admin, receivers, secrets, guards)

        dsp = DspProcess(urls, dsp_token, fleet.sites, shape)
        sampler = MemorySampler(
            {"server_a": servers[0].pid, "server_b": servers[1].pid},
            postgres.postmaster_pid(),
            args.sample_seconds,
        )
        primed = 0
        if not args.no_prime:
            began = time.monotonic()
            primed = dsp.prime()
            print(
                f"primed: {primed:,} AD1s, one from each hub to each server, in "
                f"{time.monotonic() - began:.1f} s",
                flush=True,
            )
        load_before = os.getloadavg()
        cpu_before = cpu_ms()
        print(
            f"load {args.minutes} min; uptime load {load_before}; cpu {cpu_before:.0f} ms",
            flush=True,
        )
        servers_own = ServerSampler(urls, admin)
        sampler.start()
        servers_own.start()
        if queries is not None:
            queries.start()
        if args.lock_watch:
            watch = LockWatch(database, args.out / "lockwatch.jsonl", slow=args.lock_watch)
            (args.out / "lockwatch.jsonl").unlink(missing_ok=True)
            watch.__enter__()
            wal_before = wal_figures(database)
        started = time.monotonic()
        load_began = datetime.now(UTC)
        traffic, operator_of = dsp.run(int(args.minutes * 60))
        load_seconds = time.monotonic() - started
        servers_own.stop()
        if queries is not None:
            queries.stop()
        if watch is not None:
            watch.__exit__(None, None, None)
            wal_used = {k: round(v - wal_before[k], 1) for k, v in wal_figures(database).items()}
        drained = drain(database, args.drain_seconds)
        sampler.sample()
        sampler.stop()
        load_after = os.getloadavg()
        cpu_after = cpu_ms()
        for process in servers:
            stop_process(process)
        exits = [p.returncode for p in servers]
        tally = receivers.finish(operator_of)
        counts = reconcile(database, traffic.ad1_sent, tally)
    finally:
        if dsp is not None:
            dsp.stop()
        for process in servers:
            stop_process(process)
        receivers.stop()
        postgres_log = (postgres.root / "server.log").read_text(errors="replace")
        (args.out / "postgres.log").write_text(postgres_log)  # checkpoints, vacuums, plans
        postgres.stop()
    minutes = math.ceil(args.minutes)
    samples = sampler.samples
    warm = warmup * 60
    server_errors = sum(n for status, n in traffic.statuses.items() if status >= 500)
    log_text = log.read_text(errors="replace")
    singles = per_minute(
        traffic.single_latency, minutes, traffic.load_average, traffic.steal_percent
    )
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {psutil.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "minutes": args.minutes,
        "warmup_minutes": warmup,
        "esmes": args.esmes,
        "shape": shape.__dict__,
        "guards": guards,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        # benchlib.cpu_ms before the load and after the drain: the machine's speed then
        "cpu_ms_before_after": [round(cpu_before, 1), round(cpu_after, 1)],
        "load_seconds": round(load_seconds, 1),
        "drain_seconds": round(drained, 1),
        "server_exit_codes": exits,
        "tracebacks_in_server_log": log_text.count("Traceback"),
        # A delivery attempt whose answer did not come within its deadline is made again: if
        # the receiver had the message, it gets it twice (the same webhook-id), as spec §18
        # allows; these are the only duplicates a receiver may see.
        "attempts_past_their_deadline": log_text.count("no complete answer within"),
        "failed_attempts_logged": log_text.count("failed (attempt"),
        "requests_by_status": {str(k): v for k, v in sorted(traffic.statuses.items())},
        "server_errors": server_errors,
        "client_errors": dict(traffic.errors),
        "resent": traffic.resent,
        "answers": dict(traffic.outcomes),
        "activations": traffic.activations,
        "device_messages": traffic.device_messages,
        "bursts": traffic.bursts,
        "primed": traffic.primed,
        "verifications_answered": traffic.verifications_answered,
        "verifications_left_unanswered": traffic.verifications_ignored,
        **counts,
        "received_by_dno": dict(sorted(tally.by_operator.items())),
        "memory_growth_after_warmup": {
            key: growth(samples, key, warm)
            for key in ("server_a_mb", "server_b_mb", "postgres_uss_mb", "postgres_rss_mb")
        },
        "latency_per_minute": singles,
        "batch_latency_per_minute": per_minute(
            traffic.batch_latency, minutes, traffic.load_average, traffic.steal_percent
        ),
        "p99_after_warmup": steadiness(singles, warmup),
        "p99_after_warmup_calm_minutes": steadiness(singles, warmup, calm_only=True),
        "memory_samples": samples,
        "heap": heap_figures(heap_dir, [p.pid for p in servers]),
        "cpu_seconds_per_minute": cpu_per_minute(samples),
        "writer_lock_per_minute": servers_own.per_interval(),
        "server_tail_per_minute": servers_own.tails(),
        "statements": None if queries is None else queries.costlier(),
        "slow_plans": None if args.slow_plans is None else slow_plans(postgres_log, load_began),
        "tables": None if queries is None else [s["tables"] for s in queries.snapshots],
        "lock_watch": None
        if watch is None
        else {
            **watch.summary(),
            "by_minute": watch.by_minute(load_began.timestamp()),
            "disk_by_minute": watch.disk_by_minute(load_began.timestamp()),
            "wal": wal_used,
        },
    }
    results["checkpoints"] = checkpoints(postgres_log, load_began)
    results["beyond_the_bar"] = beyond_the_bar(results, warmup)
    results["heap_growth_after_warmup"] = {
        name: {
            key: [rows[min(len(rows) - 1, int(warm // 10))][key], rows[-1][key]]
            for key in rows[0]
            if key != "time"
        }
        for name, rows in results["heap"].items()
        if rows
    }
    return results


def cpu_per_minute(samples: list[dict[str, float]]) -> list[dict[str, float]]:
    """The CPU seconds each process tree used in each minute of the load (from the memory
    samples' running totals)."""
    keys = [k for k in samples[0] if k.endswith("_cpu_s")]
    rows = []
    for minute in range(1, int(samples[-1]["t"] // 60) + 1):
        start = min(samples, key=lambda s: abs(s["t"] - 60 * (minute - 1)))
        end = min(samples, key=lambda s: abs(s["t"] - 60 * minute))
        rows.append({"minute": minute, **{k: round(end[k] - start[k], 1) for k in keys}})
    return rows


def report(results: dict[str, Any]) -> None:
    print(
        f"\nsoak: {results['minutes']} min, {results['ad1_sent']:,} AD1s, "
        f"load average before {results['load_average_before']} after "
        f"{results['load_average_after']}"
    )
    for key, g in results["memory_growth_after_warmup"].items():
        print(
            f"  {key:18} {g['after_warmup_mb']:>8} MiB -> {g['end_mb']:>8} MiB "
            f"({g['growth_percent']:+.1f}%), peak {g['peak_mb']}"
        )
    print(
        "  minute  singles  p50 ms  p99 ms   batch p99 ms  load average  steal %  "
        "slowest 1% sent at s"
    )
    for row, batch in zip(
        results["latency_per_minute"], results["batch_latency_per_minute"], strict=True
    ):
        seconds = sorted({int(at) for at, _ in row["slowest"]})
        print(
            f"  {row['minute']:>6} {row['requests']:>8} {row['p50_ms']:>7} {row['p99_ms']:>7} "
            f"{batch['p99_ms']:>14} {row['load_average']:>13} "
            f"{row.get('steal_percent', math.nan):>8}  {seconds}"
        )
    print(f"  p99 after warm-up: {results['p99_after_warmup']}")
    print(
        f"  of the minutes with under {CALM_STEAL_PERCENT:.0f}% of the CPU stolen: "
        f"{results['p99_after_warmup_calm_minutes']}"
    )
    for name, figures in results["heap_growth_after_warmup"].items():
        print(f"  heap of {name} after warm-up -> end: {figures}")
    for key in (
        "ad1_with_an_outcome",
        "ad1_without_an_outcome",
        "ad1_with_two_outcomes",
        "forwarded",
        "released",
        "suppressed_at_end",
        "delivered",
        "delivered_twice_or_more",
        "still_queued",
        "dead",
        "lost",
        "received_not_forwarded",
        "received_by_the_wrong_dno",
        "bad_signatures",
        "server_errors",
        "incomplete_requests",
        "receiver_connections",
        "attempts_past_their_deadline",
        "failed_attempts_logged",
        "tracebacks_in_server_log",
        "resent",
        "drain_seconds",
    ):
        print(f"  {key:28} {results[key]}")
    print(f"  answers {results['answers']}; statuses {results['requests_by_status']}")
    print(
        f"  activations {results['activations']}, device messages "
        f"{results['device_messages']}, bursts {results['bursts']}, AD1s priming the caches "
        f"{results.get('primed', 0)}, verifications answered "
        f"{results['verifications_answered']} / unanswered "
        f"{results['verifications_left_unanswered']}"
    )
    if results["client_errors"]:
        print(f"  client errors {results['client_errors']}")
    print("  CPU seconds a minute (servers a, b; PostgreSQL):")
    for row in results["cpu_seconds_per_minute"]:
        print(f"    {row}")
    print("  the writers' lock a minute: seconds held by work (seconds waited, all work)")
    for minute, row in enumerate(results["writer_lock_per_minute"], start=1):
        held = ", ".join(f"{w} {v}" for w, v in sorted(row["held_s"].items()) if v)
        print(f"    {minute:>3}: {held} ({sum(row['wait_s'].values()):.2f})")
    print("  the servers' own tail a minute: POST /v1/messages, group transactions")
    for minute, row in enumerate(results["server_tail_per_minute"], start=1):
        print(f"    {minute:>3}: " + "; ".join(f"{k} {v}" for k, v in row.items()))
    watched = results.get("lock_watch")
    if watched:
        print(
            f"  the writers' lock watched: {watched['looks']:,} looks, {watched['slow_looks']} "
            f"with its holder's transaction old, longest gap between looks "
            f"{watched['longest_gap_s']} s; WAL {watched['wal']}"
        )
        for row in watched["by_minute"]:
            print(f"    {row['minute']:>3}: {row}")
        print(
            f"  the disk, each second: {watched['seconds_watched']} seconds; seconds with "
            f"100 ms or more {watched['seconds_over_100ms']}, 250 ms or more "
            f"{watched['seconds_over_250ms']} (WAL flushing, all tasks waiting for I/O, some "
            "for a CPU); by minute, ms (the worst second):"
        )
        for row in watched["disk_by_minute"]:
            print(
                f"    {row['minute']:>3}: WAL flushes {row['wal_syncs']:.0f} in "
                f"{row['wal_sync_ms']} ms ({row['wal_sync_ms_worst_s']}); I/O full "
                f"{row.get('io_full', '-')} ({row.get('io_full_worst_s', '-')}); CPU some "
                f"{row.get('cpu_some', '-')} ({row.get('cpu_some_worst_s', '-')})"
            )
    for checkpoint in results["checkpoints"]:
        print(f"  checkpoint (seconds into the load): {checkpoint}")
    print(f"  minutes after warm-up over 1.5x the median p99: {len(results['beyond_the_bar'])}")
    for row in results["beyond_the_bar"]:
        print(f"    {row}")
    for slow in (results["slow_plans"] or [])[:8]:
        print(
            f"  slow: {slow['total_ms']:>9,} ms {slow['calls']:>7,} times  {slow['query'][:110]}"
            f"\n    times a minute {slow['calls_by_minute']}"
        )
    for statement in results["statements"] or []:
        print(
            f"  {statement['total_ms']:>9,} ms {statement['calls']:>9,} calls  "
            f"{statement['query'][:110]}\n"
            f"    ms a call by minute {statement['mean_ms_by_interval']}"
            f"\n    blocks a call by minute {statement['blocks_per_call_by_interval']}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument(
        "--warmup-minutes", type=float, default=None, help="default: 5, or a third of a shorter run"
    )
    parser.add_argument("--ad1-per-second", type=int, default=100)
    parser.add_argument("--singles-per-second", type=int, default=10)
    parser.add_argument("--device-messages-per-second", type=int, default=20)
    parser.add_argument("--esmes", type=int, default=20_000)
    parser.add_argument(
        "--lockstep",
        action="store_true",
        help="each second's requests all sent at its start (the soak until 2026-12-06), "
        "not spread across the second",
    )
    parser.add_argument(
        "--verify-attempts", type=int, default=2, help="1 releases unanswered AD1s sooner"
    )
    parser.add_argument("--sample-seconds", type=float, default=10)
    parser.add_argument("--drain-seconds", type=float, default=180)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-output" / "soak")
    parser.add_argument("--chart", type=Path, default=ROOT / "docs" / "img" / "soak.png")
    parser.add_argument("--no-chart", action="store_true")
    parser.add_argument(
        "--no-prime",
        action="store_true",
        help="skip the AD1 from every hub to each server that fills their device caches first",
    )
    parser.add_argument(
        "--heap-stats",
        action="store_true",
        help="each server writes its Python blocks and malloc figures every 10 s to OUT/heap/",
    )
    parser.add_argument(
        "--slow-plans",
        type=int,
        metavar="MS",
        help="PostgreSQL with auto_explain: every statement slower than MS ms logged with its "
        "plan; by statement, how many a minute and the last plan, in results.json",
    )
    parser.add_argument(
        "--lock-watch",
        type=float,
        nargs="?",
        const=0.25,
        metavar="SECONDS",
        help="watch the writers' lock every 0.1 s (pgwatch.py): by minute, the looks whose holder "
        "had held it SECONDS (0.25) or more and what it waited on, in results.json; PostgreSQL "
        "logs lock waits over 100 ms and times its WAL writes and flushes",
    )
    parser.add_argument(
        "--statements",
        action="store_true",
        help="PostgreSQL with pg_stat_statements: each minute, every statement's calls and time "
        "and the tables' rows, in results.json; the costliest statements printed",
    )
    args = parser.parse_args(argv)
    results = run(args)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    report(results)
    if not args.no_chart:
        chart(results, args.chart)
        print(f"chart: {args.chart}")


if __name__ == "__main__":
    main()
