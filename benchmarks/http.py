"""The HTTP API under load: single DUIS messages and JSON Lines batches, PostgreSQL and SQLite,
one server with one or two workers and two servers on one database; three runs of each
PostgreSQL shape, each on a store of its own, with their median and spread.

    .venv/bin/python benchmarks/http.py [--seconds 15] [--runs 3] [--sqlite-runs 1]
        [--shapes pg-1x1,pg-1x2,pg-2x1,pg-2x1-guards,sqlite-1x1,sqlite-1x2] [--chart]
        [--diagnose]

Load comes from wrk (Debian package ``wrk``, installed when missing) on the same machine, with
a Lua script that gives every AD1 its own alert_id and a random hub of the fleet, so that each
request is a new decision, durable before it is answered:

* single messages: one DUIS AD1 per POST from 32 connections; requests/s and p50/p99 latency
  (after ``--warmup`` seconds of the same, not measured: caches fill, statements are prepared);
* batches: 1,000 JSON AD1 lines per POST from 4 connections; AD1s/s.

With two servers each gets its own wrk with half the connections (and half the load threads),
so the load costs the machine the same; rates are summed and the worse p50/p99 is reported.

The shapes (``SHAPES``): PostgreSQL with one server of one worker, one server of two workers
(``--workers 2``), two servers, two servers with both spec §9 guards on (release-if-dark 60
minutes; area-outage 3 AD1s in 900 s); SQLite with one and two workers for comparison. With
AD1s from random hubs at this rate every postcode sector is in an "outage", so the guarded runs
are the guards' worst case: each group reads its sectors' last half hour of AD1s.

Every run starts from a new store (a fresh PostgreSQL database, a new SQLite file) holding a
fleet of ``--esmes`` ESMEs and its GUID list, a fifth of the ESMEs activated. PostgreSQL is a
private server started from Debian's binaries with fsync on, as in production; SQLite
commits durably too. Prints every run (with how the batches' connections fell on the server
processes, counted with ``ss``: one server of two workers may get 4, 3+1 or 2+2), each shape's
median and spread ((max - min) / median) and the load averages, writes
bench-output/http/results.json and, with ``--chart``, docs/img/http-capacity.png (the runs per
shape). ``--diagnose``, to find what stalls a run: the servers' warnings and PostgreSQL's log
(lock waits over 200 ms, statements over 250 ms, checkpoints, autovacuum) kept in ``--out``,
the writers' lock watched every 0.1 s through the loads (``pgwatch.LockWatch``: its holder when
held 0.25 s or more, the longest gap between looks; each second's WAL flushing and I/O and CPU
pressure, and the seconds with 100 or 250 ms of them), and the write transactions that held the
lock over 1 s counted by what they did (the servers' ``/metrics``), in each run's row. Not
part of the tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and its name (http.py, as the
# issue asks) would shadow the standard library's http package: take the folder off first.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import contextlib
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import wait_until_ready, wait_until_workers_accept
from tests.pg import PostgresServer, free_port

from poagate.domain.reference import Config
from poagate.formats.reference.inventory import write_inventory
from poagate.service.access import new_token, token_sha256
from poagate.service.reference.loads import load_guid_list, load_inventory
from poagate.sim.fleet import FleetSpec, generate_fleet
from poagate.store.database import open_store

# this folder last (its http.py must not shadow the standard library's), for benchlib
sys.path.append(str(Path(__file__).resolve().parent))
from benchlib import Steal, cpu_ms
from pgwatch import LockWatch

POAGATE = Path(sys.executable).with_name("poagate")

# Both scripts: the token, the fleet's hubs, a run tag for unique alert_ids, a thread number.
LUA_PRELUDE = """
local token, hubs, run = "%(token)s", {%(hubs)s}, "%(run)s"
-- tid is a global: thread:set gives each thread's copy of the script its number there (a local
-- of the same name would hide it, every thread would be 0, and two threads would send the same
-- alert_ids: half the AD1s duplicates).
local counter, threads = 0, 0
tid = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function init(args) math.randomseed(tid * 7919) end
"""

SINGLE_LUA = (
    LUA_PRELUDE
    + """
request = function()
  counter = counter + 1
  local body = '<?xml version="1.0" encoding="UTF-8"?><sr:Response '
    .. 'xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway"><sr:Header><sr:ResponseID>'
    .. run .. '-' .. tid .. '-' .. counter .. '</sr:ResponseID><sr:ResponseCode>I0'
    .. '</sr:ResponseCode></sr:Header><sr:Body><sr:DCCAlertMessage><sr:DCCAlertCode>AD1'
    .. '</sr:DCCAlertCode><sr:DCCAlert><sr:PowerOutageEvent><sr:DeviceID>'
    .. hubs[math.random(#hubs)] .. '</sr:DeviceID></sr:PowerOutageEvent></sr:DCCAlert>'
    .. '</sr:DCCAlertMessage></sr:Body></sr:Response>'
  return wrk.format("POST", "/v1/messages",
    {["Content-Type"] = "application/xml", ["Authorization"] = "Bearer " .. token}, body)
end
"""
)

BATCH_LUA = (
    LUA_PRELUDE
    + """
request = function()
  local lines = {}
  for i = 1, 1000 do
    counter = counter + 1
    lines[i] = '{"type":"ad1","alert_id":"' .. run .. '-' .. tid .. '-' .. counter
      .. '","chf_id":"' .. hubs[math.random(#hubs)] .. '"}'
  end
  return wrk.format("POST", "/v1/messages",
    {["Content-Type"] = "application/x-ndjson", ["Authorization"] = "Bearer " .. token},
    table.concat(lines, "\\n"))
end
"""
)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk (Debian package) for the load")
    install = ["apt-get", "install", "-y", "-qq", "wrk"]
    if subprocess.run(install, check=False, capture_output=True).returncode != 0:
        # A fresh machine may have no package lists yet.
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(install, check=False, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed and could not be installed; the benchmark needs it")
    return found


GUARDS = Config(release_after_minutes=60, area_outage_threshold=3, area_outage_seconds=900)


def prepare(
    database: str, directory: Path, esmes: int, guards: bool = False
) -> tuple[str, list[str]]:
    """Load a fleet and its GUID list (and the guards' configuration); a dsp token and the
    hubs."""
    fleet = generate_fleet(FleetSpec(esmes=esmes, seed=11))
    inventory = directory / "inventory.csv"
    if not inventory.exists():
        with inventory.open("w", newline="") as f:
            write_inventory(fleet.devices(), f)
        (directory / "guid.txt").write_text("\n".join(fleet.guid_list()) + "\n")
    token = load_store(database, inventory, directory / "guid.txt")
    if guards:
        with open_store(database, "service") as store:
            store.reference.save_config(GUARDS, "benchmark", datetime.now(UTC))
    return token, [s.chf_id for s in fleet.sites]


def admin_token(database: str) -> str:
    """A new admin token in the store (``--diagnose`` reads the servers' ``/metrics``)."""
    token = new_token()
    with open_store(database, "service") as store:
        now = datetime.now(UTC)
        store.tokens.add(token_sha256(token), "admin", [], "benchmark", now, "benchmark")
    return token


def long_holds(servers: list[Server], token: str, over: float = 1.0) -> dict[str, int]:
    """By what they did, how many write transactions of all ``servers`` held the writers' lock
    for more than ``over`` seconds (their ``/metrics``; ``over`` a bucket's bound)."""
    found: dict[str, int] = {}
    for server in servers:
        text = httpx.get(
            f"{server.url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ).text
        buckets: dict[str, dict[float, float]] = {}
        for family in text_string_to_metric_families(text):
            if family.name != "poagate_writer_lock_held_seconds":
                continue
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    bound = float(sample.labels["le"])  # "+Inf" included
                    buckets.setdefault(sample.labels["work"], {})[bound] = sample.value
        for work, counts in buckets.items():
            longer = int(counts[float("inf")] - counts.get(over, counts[float("inf")]))
            if longer:
                found[work] = found.get(work, 0) + longer
    return found


# PostgreSQL's log with --diagnose: lock waits over 200 ms, statements over 250 ms, checkpoints,
# autovacuum and autoanalyze, each line with its time, process and database; the time spent
# flushing WAL timed, for the lock watch's seconds (pgwatch.py).
DIAGNOSE_OPTIONS = (
    "-c log_lock_waits=on -c deadlock_timeout=200ms -c log_min_duration_statement=250 "
    "-c log_checkpoints=on -c log_autovacuum_min_duration=0 -c track_wal_io_timing=on "
    '-c "log_line_prefix=%m [%p] %a "'
)


def load_store(database: str, inventory: Path, guid: Path) -> str:
    """Load an inventory and a GUID list into the store; a new dsp token for it."""
    now = datetime.now(UTC)
    token = new_token()
    with open_store(database, "service", schema="create") as store:
        load_inventory(store, inventory, now)
        load_guid_list(store, guid, now)
        store.tokens.add(token_sha256(token), "dsp", [], "benchmark", now, "benchmark")
    return token


class Server:
    def __init__(self, database: str, workers: int, log: Path | None = None) -> None:
        """``log``: a file for the server's log (its warnings and errors: at ``info`` it would
        write a line a request, which costs the server CPU); without, it is dropped."""
        self.port = free_port()
        self.log = log.open("ab") if log is not None else None
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                str(POAGATE),
                "serve",
                "--database",
                database,
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--no-deliveries",
                "--log-level",
                "warning",
            ],
            stdout=self.log or subprocess.DEVNULL,
            stderr=self.log or subprocess.DEVNULL,
            start_new_session=True,
        )
        if not wait_until_ready(self.url, self.process) or (
            workers > 1 and not wait_until_workers_accept(self.process, workers)
        ):
            self.stop()
            raise SystemExit("the server did not start")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=60)
        if self.log is not None:
            self.log.close()


def cpu_seconds(pids: list[int]) -> float:
    """The CPU seconds (user and system) the processes ``pids`` and their children have used."""
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for process in tree:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
    return total


class CpuMeter:
    """Where a load's CPU went: the servers (every worker), PostgreSQL (every backend), and the
    load itself (wrk: this process's children that ended meanwhile)."""

    def __init__(self, servers: list[Server], postmaster: int) -> None:
        self.pids = {"servers": [s.process.pid for s in servers], "postgres": [postmaster]}
        self.before = self._now()

    def _now(self) -> dict[str, float]:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {
            **{name: cpu_seconds(pids) for name, pids in self.pids.items()},
            "wrk": children.ru_utime + children.ru_stime,
        }

    def used(self) -> dict[str, float]:
        now = self._now()
        return {name: round(now[name] - self.before[name], 1) for name in now}


def activate(url: str, token: str, hubs_esmes: list[str], share: float) -> None:
    chosen = random.Random(5).sample(hubs_esmes, int(len(hubs_esmes) * share))
    lines = [
        json.dumps({"type": "activation", "request_id": f"90-B3-D5-1F-30-01-00-00:{esme}:{n}"})
        for n, esme in enumerate(chosen, start=1)
    ]
    for start in range(0, len(lines), 1000):
        answer = httpx.post(
            f"{url}/v1/messages",
            content="\n".join(lines[start : start + 1000]),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
            timeout=120,
        )
        answer.raise_for_status()


def connections_by_process(ports: list[int]) -> list[int]:
    """How many established connections each server process holds on ``ports`` (``ss``),
    most first: with ``--workers 2`` the kernel hands a new connection to whichever worker
    accepts first, and one worker often takes all of a few connections opened at once."""
    counts: dict[str, int] = {}
    if shutil.which("ss") is None:  # Debian's iproute2
        return []
    for port in ports:
        out = subprocess.run(
            ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        for pid in re.findall(r"pid=(\d+)", out):
            counts[pid] = counts.get(pid, 0) + 1
    return sorted(counts.values(), reverse=True)


def run_wrk(
    wrk: str, script: str, url: str, connections: int, seconds: int, threads: int = 2
) -> dict[str, float]:
    """One wrk on one server: requests/s, p50/p99 ms, non-2xx answers and timeouts."""
    return run_wrks(wrk, [(script, url)], connections, seconds, threads)


def run_wrks(
    wrk: str,
    loads: list[tuple[str, str]],
    connections: int,
    seconds: int,
    threads: int,
    ports: list[int] | None = None,
) -> dict[str, Any]:
    """One wrk per (script, server URL), all at once, the connections and threads shared among
    them (so the load costs the machine the same CPU for one server as for two). Requests/s,
    errors and timeouts are summed; p50 and p99 are the worst of the wrks (wrk prints
    percentiles, not its histogram, so they cannot be merged exactly). With ``ports``, how the
    connections were spread over the server processes half-way through
    (``connections_by_process``)."""
    started = []
    for n, (script, url) in enumerate(loads):
        path = Path(f"/tmp/poagate-bench-{os.getpid()}-{n}.lua")
        path.write_text(script)
        command = [
            wrk,
            f"-t{max(1, threads // len(loads))}",
            f"-c{max(1, connections // len(loads))}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(path),
            f"{url}/v1/messages",
        ]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        started.append((path, process))
    spread: list[int] = []
    if ports:
        time.sleep(seconds / 2)
        spread = connections_by_process(ports)
    outputs = []
    for path, process in started:
        out, _ = process.communicate()
        path.unlink()
        if process.returncode != 0:
            raise SystemExit(f"wrk failed ({process.returncode})")
        outputs.append(parse_wrk(out))
    return {
        "requests_per_second": sum(o["requests_per_second"] for o in outputs),
        "p50_ms": max(o["p50_ms"] for o in outputs),
        "p99_ms": max(o["p99_ms"] for o in outputs),
        "non_2xx": sum(o["non_2xx"] for o in outputs),
        "timeouts": sum(o["timeouts"] for o in outputs),
        "connections_by_process": spread,
    }


def parse_wrk(out: str) -> dict[str, float]:
    def latency(pct: str) -> float:
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if match is None:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    timeouts = re.search(r"timeout (\d+)", out)
    return {
        "requests_per_second": float(rate.group(1)) if rate else 0.0,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "timeouts": int(timeouts.group(1)) if timeouts else 0,
    }


@dataclass(frozen=True)
class Shape:
    """What one row of the table measures: a backend, how many server processes and uvicorn
    workers each, guards on or off."""

    key: str
    backend: str
    servers: int
    workers: int
    guards: bool

    @property
    def label(self) -> str:
        store = "PostgreSQL" if self.backend == "postgres" else "SQLite"
        servers = f"{self.servers} server{'s' if self.servers > 1 else ''}"
        workers = f"{self.workers} worker{'s' if self.workers > 1 else ''}"
        return f"{store}, {servers} × {workers}, guards {'on' if self.guards else 'off'}"


SHAPES = [
    Shape("pg-1x1", "postgres", 1, 1, False),
    Shape("pg-1x2", "postgres", 1, 2, False),
    Shape("pg-2x1", "postgres", 2, 1, False),
    Shape("pg-2x1-guards", "postgres", 2, 1, True),
    Shape("sqlite-1x1", "sqlite", 1, 1, False),
    Shape("sqlite-1x2", "sqlite", 1, 2, False),
]
MEASURES = ("batch_ad1_per_second", "single_per_second", "single_p99_ms")


def uptime() -> str:
    """The load averages (1, 5, 15 minutes) as uptime prints them."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def one_run(
    shape: Shape, number: int, postgres: PostgresServer, args: argparse.Namespace, wrk: str
) -> dict[str, Any]:
    """One run of a shape on a store of its own: the fleet loaded, a fifth of it activated,
    then single messages at 32 connections (and at 8 with ``--light``), then batches."""
    tag = f"R{int(time.time())}-{shape.key}-{number}"
    if shape.backend == "sqlite":
        db_file = args.out / f"{shape.key}.db"
        for stale in args.out.glob(f"{db_file.name}*"):  # the file, its WAL, its locks
            stale.unlink()
        database = f"sqlite:///{db_file}"
    else:
        database = postgres.fresh_database()
    token, hubs = prepare(database, args.out, args.esmes, shape.guards)
    servers: list[Server] = []
    load_before = uptime()
    cpu_before = cpu_ms()
    watch: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    diagnosis: dict[str, Any] = {}
    try:
        for n in range(shape.servers):
            log = args.out / f"{tag}-server{n}.log" if args.diagnose else None
            servers.append(Server(database, shape.workers, log))
        if args.diagnose and shape.backend == "postgres":
            admin = admin_token(database)
            watch = LockWatch(database, args.out / f"{tag}-lockwatch.jsonl")
        fleet = generate_fleet(FleetSpec(esmes=args.esmes, seed=11))
        activate(servers[0].url, token, [s.esme_id for s in fleet.sites], 0.2)
        lua_hubs = ",".join(f'"{h}"' for h in hubs)

        def scripts(template: str, kind: str) -> list[tuple[str, str]]:
            # Each server's wrk its own alert_ids: their threads are numbered alike.
            return [
                (template % {"token": token, "hubs": lua_hubs, "run": f"{tag}{kind}{n}"}, s.url)
                for n, s in enumerate(servers)
            ]

        if args.warmup:  # not measured: each server's caches fill, its statements prepared
            run_wrks(wrk, scripts(SINGLE_LUA, "w"), 32, args.warmup, 2)
        with watch:
            meter, steal = CpuMeter(servers, postgres.postmaster_pid()), Steal()
            single = run_wrks(wrk, scripts(SINGLE_LUA, "s"), 32, args.seconds, 2)
            single_cpu, single_steal = meter.used(), steal.lap()
            light = (
                run_wrks(wrk, scripts(SINGLE_LUA, "l"), 8, args.seconds, 2) if args.light else {}
            )
            steal.lap()
            # One load thread a server: building 1,000-line bodies in Lua takes CPU from the
            # server.
            batch = run_wrks(
                wrk,
                scripts(BATCH_LUA, "b"),
                4,
                args.seconds,
                len(servers),
                [s.port for s in servers],
            )
            batch_steal = steal.lap()
        if isinstance(watch, LockWatch):
            diagnosis = {"lock_watch": watch.summary(), "held_over_1s": long_holds(servers, admin)}
    finally:
        for server in servers:
            server.stop()
    load_after = uptime()
    with open_store(database, "read") as store:
        counts = store.counts()
    if shape.backend == "postgres":
        postgres.drop_database(database)
    row: dict[str, Any] = {
        "shape": shape.key,
        "run": number,
        "single_per_second": round(single["requests_per_second"]),
        "single_p50_ms": round(single["p50_ms"], 1),
        "single_p99_ms": round(single["p99_ms"], 1),
        # CPU seconds the single messages' load took: servers, PostgreSQL, wrk (2 CPUs: at most
        # 2 s a second in all)
        "single_cpu_s": single_cpu,
        "batch_ad1_per_second": round(batch["requests_per_second"] * 1000),
        "batch_p50_ms": round(batch["p50_ms"], 1),
        # the batches' 4 connections by server process (one server of 2 workers: 4, 3+1, 2+2)
        "batch_connections": "+".join(str(n) for n in batch["connections_by_process"]),
        "errors": sum(int(r["non_2xx"] + r["timeouts"]) for r in (single, batch)),
        "ad1_decided": counts["ad1_suppressed"] + counts["ad1_forwarded"],
        "ad1_suppressed": counts["ad1_suppressed"],
        "ad1_released": counts["ad1_released"],
        "load_before": load_before,
        "cpu_ms_before": round(cpu_before, 1),  # benchlib.cpu_ms: the machine's speed then
        # benchlib.Steal: percent of the CPU the hypervisor gave others, singles / batches
        "steal_percent": [single_steal, batch_steal],
        "load_after": load_after,
    }
    if diagnosis:
        row["diagnosis"] = diagnosis
    if light:
        row |= {
            "single_8_per_second": round(light["requests_per_second"]),
            "single_8_p50_ms": round(light["p50_ms"], 1),
            "single_8_p99_ms": round(light["p99_ms"], 1),
        }
    return row


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each measure's runs, their median and their spread ((max − min) / median)."""
    out: dict[str, Any] = {}
    for measure in MEASURES:
        values = [float(r[measure]) for r in runs]
        middle = statistics.median(values)
        spread = (max(values) - min(values)) / middle if middle else float("nan")
        out[measure] = {"runs": values, "median": middle, "spread": round(spread, 3)}
    return out


def chart(shapes: list[dict[str, Any]], path: Path) -> None:
    """Every run of every shape (dots) and its median (a bar): batches, single messages and
    their p99, with the targets as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(16, 5))
    panels = [
        ("batch_ad1_per_second", "AD1/s in batches of 1,000", 50_000),
        ("single_per_second", "single DUIS messages/s, 32 connections", 2_000),
        ("single_p99_ms", "their p99 latency, ms (target: under)", 50),
    ]
    labels = [s["label"].replace(", guards", "\nguards") for s in shapes]
    for ax, (measure, title, target) in zip(axes, panels, strict=True):
        for x, shape in enumerate(shapes):
            values = shape["summary"][measure]["runs"]
            ax.bar(x, shape["summary"][measure]["median"], color="#9ecae1", width=0.6)
            ax.scatter([x] * len(values), values, color="#08519c", zorder=3, s=18)
        ax.axhline(target, color="#d62728", linestyle="--", linewidth=1, label="target")
        ax.set_xticks(range(len(shapes)), labels, rotation=35, ha="right", fontsize=7)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    figure.suptitle("benchmarks/http.py: each run (dots) and the median (bars); fsync on")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--esmes", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3, help="runs of each PostgreSQL shape")
    parser.add_argument("--sqlite-runs", type=int, default=1, help="runs of each SQLite shape")
    parser.add_argument(
        "--shapes",
        default=",".join(s.key for s in SHAPES),
        help="which shapes, comma-separated (default: all of " + ", ".join(s.key for s in SHAPES),
    )
    parser.add_argument(
        "--warmup", type=int, default=2, help="seconds of single messages first, not measured"
    )
    parser.add_argument("--light", action="store_true", help="single messages at 8 connections")
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help="keep the servers' and PostgreSQL's logs (lock waits, slow statements, checkpoints, "
        "autovacuum) in --out, watch the writers' lock every 0.1 s (pgwatch.py) and count the "
        "transactions that held it over 1 s",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench-output" / "http")
    parser.add_argument(
        "--chart", action="store_true", help="write docs/img/http-capacity.png (runs per shape)"
    )
    args = parser.parse_args()
    wrk = ensure_wrk()
    args.out.mkdir(parents=True, exist_ok=True)
    chosen = [s for s in SHAPES if s.key in args.shapes.split(",")]
    print(f"fsync on (PostgreSQL and SQLite durable before an answer); load {uptime()}", flush=True)
    postgres = PostgresServer(durable=True, options=DIAGNOSE_OPTIONS if args.diagnose else "")
    postgres.start()
    results: list[dict[str, Any]] = []
    try:
        for shape in chosen:
            runs = args.runs if shape.backend == "postgres" else args.sqlite_runs
            rows = []
            for number in range(1, runs + 1):
                row = one_run(shape, number, postgres, args, wrk)
                print(row, flush=True)
                rows.append(row)
            results.append(
                {**asdict(shape), "label": shape.label, "runs": rows, "summary": summary(rows)}
            )
    finally:
        if args.diagnose:  # PostgreSQL's log goes with its files
            shutil.copy(postgres.root / "server.log", args.out / "postgres.log")
        postgres.stop()
    document = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "fsync": "on",
        "seconds_per_load": args.seconds,
        "warmup_seconds": args.warmup,
        "esmes": args.esmes,
        "shapes": results,
        "targets": {
            "single_per_second": ">= 2,000 with p99 < 50 ms at 32 connections",
            "batch_ad1_per_second": ">= 50,000",
            "spread": "three runs within 20% ((max - min) / median)",
        },
    }
    (args.out / "results.json").write_text(json.dumps(document, indent=2) + "\n")
    if args.chart and results:
        chart(results, ROOT / "docs" / "img" / "http-capacity.png")
    print(f"\nfsync on; load averages now {uptime()}")
    print(
        f"{'shape':15} {'run':>3} {'batch AD1/s':>11} {'single/s':>9} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'errors':>6} {'cpu ms':>6} {'steal %':>9} {'conns':>5}  "
        "load before → after"
    )
    for done in results:
        for r in done["runs"]:
            print(
                f"{r['shape']:15} {r['run']:>3} {r['batch_ad1_per_second']:>11,} "
                f"{r['single_per_second']:>9,} {r['single_p50_ms']:>7} {r['single_p99_ms']:>7} "
                f"{r['errors']:>6} {r.get('cpu_ms_before', float('nan')):>6.0f} "
                f"{'/'.join(f'{x:.0f}' for x in r.get('steal_percent', [])):>9} "
                f"{r.get('batch_connections', ''):>5}  "
                f"{r['load_before']} → {r['load_after']}"
            )
        s = done["summary"]
        print(
            f"{done['key']:15} {'med':>3} {s['batch_ad1_per_second']['median']:>11,.0f} "
            f"{s['single_per_second']['median']:>9,.0f} {'':>7} "
            f"{s['single_p99_ms']['median']:>7} {'':>6}  spread: batches "
            f"{s['batch_ad1_per_second']['spread']:.0%}, single "
            f"{s['single_per_second']['spread']:.0%}, p99 {s['single_p99_ms']['spread']:.0%}"
        )


if __name__ == "__main__":
    main()
