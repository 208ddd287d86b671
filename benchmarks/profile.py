"""Where the time goes: py-spy profiles of the replay and of the HTTP batch path.

    .venv/bin/python benchmarks/profile.py [--ad1 300000] [--esmes 100000]

Builds a storm input with benchmarks/storm.py's generator, then

* records ``poagate replay`` of it with py-spy (a sampling profiler: the replay runs at full
  speed in its own process), and
* records one ``poagate serve`` process while JSON Lines batches of 1,000 AD1s are posted to it;

and prints, for each, the functions with the most samples in them (self time) with their share of
all samples. The collapsed stacks stay in bench-output/profile/{replay,http}.txt (speedscope
and inferno draw them as flame graphs). Not part of the tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

import argparse
import asyncio
import collections
import random
import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime

import orjson

from benchlib import http_benchmark
from poagate.formats.reference.inventory import write_inventory
from poagate.sim.fleet import FleetSpec, generate_fleet
from storm import push, storm_lines

ROOT = HERE.parent
PY_SPY = Path(sys.executable).with_name("py-spy")


def record(output: Path, *target: str) -> subprocess.Popen[bytes]:
    """py-spy, recording ``target`` (a command, or ``--pid N``) as raw collapsed stacks."""
    return subprocess.Popen(
        [str(PY_SPY), "record", "--rate", "250", "--format", "raw", "-o", str(output),
         "--nonblocking", *target],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def top(raw: Path, count: int = 15) -> list[tuple[str, float]]:
    """The functions with the most self samples, with their share of all samples."""
    self_samples: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack:
            continue
        n = int(samples)
        total += n
        leaf = stack.split(";")[-1]
        self_samples[leaf] += n
    return [(frame, n / total) for frame, n in self_samples.most_common(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ad1", type=int, default=300_000)
    parser.add_argument("--esmes", type=int, default=100_000)
    parser.add_argument("--campaign", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-output" / "profile")
    args = parser.parse_args()
    if not PY_SPY.exists():
        raise SystemExit(f"{PY_SPY} is missing: make install puts py-spy in the venv")
    args.out.mkdir(parents=True, exist_ok=True)
    fleet = generate_fleet(FleetSpec(esmes=args.esmes, seed=11))
    rng = random.Random(3)
    campaign = rng.sample([s for s in fleet.sites if s.qualifies], args.campaign)
    hubs = [rng.choice(fleet.sites).chf_id for _ in range(args.ad1)]
    work = args.out / "input"
    work.mkdir(exist_ok=True)
    with (work / "inventory.csv").open("w", newline="") as f:
        write_inventory(fleet.devices(), f)
    (work / "guid.txt").write_text("\n".join(fleet.guid_list()) + "\n")
    lines, _ = storm_lines(campaign, hubs, datetime(2026, 3, 5, 18, 0, tzinfo=UTC))
    events = work / "storm.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")

    # -- replay ------------------------------------------------------------------------------
    run = args.out / "replay-run"
    shutil.rmtree(run, ignore_errors=True)
    raw_replay = args.out / "replay.txt"
    poagate = str(Path(sys.executable).with_name("poagate"))
    started = time.perf_counter()
    spy = record(
        raw_replay, "--subprocesses", "--", poagate, "replay", "--inventory",
        str(work / "inventory.csv"), "--guid-list", str(work / "guid.txt"),
        "--db", str(run / "poagate.db"), "--out", str(run / "out"), str(events),
    )  # fmt: skip
    spy.wait()
    replay_seconds = time.perf_counter() - started

    # -- HTTP --------------------------------------------------------------------------------
    bench_http = http_benchmark()
    database = f"sqlite:///{args.out / 'http.db'}"
    for path in args.out.glob("http.db*"):
        path.unlink()
    token = bench_http.load_store(database, work / "inventory.csv", work / "guid.txt")
    server = bench_http.Server(database, 1)
    raw_http = args.out / "http.txt"
    try:
        bench_http.activate(server.url, token, [s.esme_id for s in campaign], 1.0)
        bodies = [
            b"\n".join(
                orjson.dumps({"type": "ad1", "alert_id": f"P-{n}", "chf_id": hubs[n]})
                for n in range(i, min(i + 1_000, args.ad1))
            )
            for i in range(0, args.ad1, 1_000)
        ]
        spy = record(raw_http, "--subprocesses", "--pid", str(server.process.pid))
        time.sleep(1)
        started = time.perf_counter()
        asyncio.run(push(server.url, token, bodies, 4))
        http_seconds = time.perf_counter() - started
        spy.send_signal(signal.SIGINT)  # py-spy writes its output on an interrupt
        spy.wait(timeout=60)
    finally:
        server.stop()

    for name, raw, seconds in (
        ("replay", raw_replay, replay_seconds),
        ("HTTP batches", raw_http, http_seconds),
    ):
        print(f"\n{name}: {args.ad1:,} AD1s in {seconds:.1f} s ({args.ad1 / seconds:,.0f}/s)")
        if not raw.exists():
            print("  (no profile: py-spy could not attach)")
            continue
        for frame, share in top(raw):
            print(f"  {share:6.1%}  {frame}")


if __name__ == "__main__":
    main()
