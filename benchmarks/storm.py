"""An alert storm: 1,000,000 AD1s in one hour over a fleet with a firmware campaign running.

    .venv/bin/python benchmarks/storm.py [--ad1 1000000] [--esmes 200000] [--campaign 20000]

The storm's AD1s come from random hubs of the fleet (a hub may raise several) over one hour,
while a campaign of immediate activations opens windows for a share of them; they are pushed as
fast as possible

* through ``poagate replay`` (one JSON Lines file, a fresh SQLite store), and
* through the HTTP API: one server process on a fresh SQLite store, JSON Lines batches of 1,000
  AD1s from 4 concurrent clients;

and for each the benchmark prints the time to drain, AD1s/s, the peak resident memory, and
checks in the store that every AD1 has exactly one outcome (distinct alert_ids decided = AD1s
sent, no duplicates) and that the suppressions are the AD1s in an open window. Writes
bench-output/storm/results.json. Not part of the tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder holds http.py, which would shadow the standard library's http package that httpx
# needs: search it last (for benchlib and replay).
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

import argparse
import asyncio
import json
import platform
import random
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import PeakRss, http_benchmark
from poagate.formats.reference.inventory import write_inventory
from poagate.formats.timestamps import format_timestamp
from poagate.sim.fleet import FleetSpec, Site, generate_fleet
from poagate.store.database import open_store
from replay import run_replay


def storm_lines(
    campaign: list[Site], storm_hubs: list[str], start: datetime
) -> tuple[list[bytes], int]:
    """The campaign's activations (spread over the hour) and the storm's AD1s (three minutes
    after each outage), merged in received_at order, and how many AD1s fall in a window."""
    hour = timedelta(hours=1)
    timed: list[tuple[datetime, bytes]] = []
    opened: dict[str, datetime] = {}
    for n, site in enumerate(campaign):
        at = start + hour * n / len(campaign)
        opened[site.chf_id] = at
        rid = f"90-B3-D5-1F-30-01-00-00:{site.esme_id}:{n + 1}"
        line = {"type": "activation", "request_id": rid, "received_at": format_timestamp(at)}
        timed.append((at, orjson.dumps(line)))
    in_window = 0
    for n, hub in enumerate(storm_hubs):
        received = start + hour * n / len(storm_hubs)
        event = received - timedelta(minutes=3)
        window = opened.get(hub)
        if window is not None and window <= event < window + timedelta(minutes=30):
            in_window += 1
        line = {
            "type": "ad1",
            "alert_id": f"STORM-{n:07d}",
            "chf_id": hub,
            "received_at": format_timestamp(received),
            "event_at": format_timestamp(event),
        }
        timed.append((received, orjson.dumps(line)))
    timed.sort(key=lambda t: t[0])
    return [line for _, line in timed], in_window


def outcomes_of(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as conn:
        decided, distinct, suppressed = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT alert_id), COALESCE(SUM(suppressed), 0) "
            "FROM ad1_outcomes WHERE alert_id LIKE 'STORM-%'"
        ).fetchone()
        duplicates = conn.execute("SELECT COUNT(*) FROM ad1_duplicates").fetchone()[0]
    return {
        "decided": decided,
        "distinct": distinct,
        "suppressed": suppressed,
        "duplicates": duplicates,
    }


async def push(url: str, token: str, bodies: list[bytes], clients: int) -> list[int]:
    """POST every body, ``clients`` at a time; the status of each."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(bodies)):
        queue.put_nowait(i)
    statuses = [0] * len(bodies)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}

    async def client() -> None:
        async with httpx.AsyncClient(timeout=300) as http:
            while not queue.empty():
                i = queue.get_nowait()
                answer = await http.post(f"{url}/v1/messages", content=bodies[i], headers=headers)
                statuses[i] = answer.status_code

    await asyncio.gather(*(client() for _ in range(clients)))
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ad1", type=int, default=1_000_000)
    parser.add_argument("--esmes", type=int, default=200_000)
    parser.add_argument("--campaign", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-output" / "storm")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    bench_http = http_benchmark()

    print(f"generating a fleet of {args.esmes:,} and a storm of {args.ad1:,} AD1s", flush=True)
    fleet = generate_fleet(FleetSpec(esmes=args.esmes, seed=11))  # the fleet http.py loads
    rng = random.Random(args.seed)
    # The campaign activates meters that qualify (L+G SMETS2 on the GUID list); the storm's
    # AD1s come from any hub, some several times.
    campaign = rng.sample([s for s in fleet.sites if s.qualifies], args.campaign)
    storm_hubs = [rng.choice(fleet.sites).chf_id for _ in range(args.ad1)]
    start = datetime(2026, 3, 5, 18, 0, tzinfo=UTC)
    rows: list[dict[str, Any]] = []

    # -- through poagate replay ------------------------------------------------------------
    work = args.out / "input"
    work.mkdir(parents=True, exist_ok=True)
    with (work / "inventory.csv").open("w", newline="") as f:
        write_inventory(fleet.devices(), f)
    (work / "guid.txt").write_text("\n".join(fleet.guid_list()) + "\n")
    lines, in_window = storm_lines(campaign, storm_hubs, start)
    events = work / "storm.jsonl"
    with events.open("wb") as f:
        f.writelines(line + b"\n" for line in lines)
    del lines
    print("replay ...", flush=True)
    result = run_replay(args.out / "replay", work / "inventory.csv", work / "guid.txt", [events])
    counts = outcomes_of(args.out / "replay" / "poagate.db")
    rows.append(
        {
            "path": "poagate replay",
            "ad1": args.ad1,
            "seconds": round(result["seconds"], 1),
            "ad1_per_second": round(args.ad1 / result["seconds"]),
            "peak_rss_mb": round(result["peak_rss_main_mb"]),
            "peak_rss_tree_mb": round(result["peak_rss_tree_mb"]),
            **counts,
            "expected_suppressed": in_window,
        }
    )
    print(rows[-1], flush=True)

    # -- through the HTTP API -------------------------------------------------------------------
    # The server stamps received_at itself: the campaign goes first, then the storm at once, so
    # every activated hub's AD1s fall in its window.
    http_dir = args.out / "http"
    http_dir.mkdir(parents=True, exist_ok=True)
    database = http_dir / "storm.db"
    for suffix in ("", "-wal", "-shm", ".lock", ".write.lock", ".writer.lock"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    token, _ = bench_http.prepare(f"sqlite:///{database}", work, args.esmes)
    activated = {s.chf_id for s in campaign}
    expected = sum(1 for h in storm_hubs if h in activated)
    bodies = [
        b"\n".join(
            orjson.dumps({"type": "ad1", "alert_id": f"STORM-{n:07d}", "chf_id": storm_hubs[n]})
            for n in range(i, min(i + 1_000, args.ad1))
        )
        for i in range(0, args.ad1, 1_000)
    ]
    server = bench_http.Server(f"sqlite:///{database}", 1)
    try:
        with open_store(f"sqlite:///{database}", "read") as store:
            store.counts()  # the store answers
        bench_http.activate(server.url, token, [s.esme_id for s in campaign], 1.0)
        print("HTTP ...", flush=True)
        with PeakRss(server.process.pid) as peak:
            started = time.perf_counter()
            statuses = asyncio.run(push(server.url, token, bodies, 4))
            seconds = time.perf_counter() - started
    finally:
        server.stop()
    counts = outcomes_of(database)
    rows.append(
        {
            "path": "HTTP, batches of 1,000",
            "ad1": args.ad1,
            "seconds": round(seconds, 1),
            "ad1_per_second": round(args.ad1 / seconds),
            "peak_rss_mb": round(peak.main_mb),
            "peak_rss_tree_mb": round(peak.tree_mb),
            **counts,
            "expected_suppressed": expected,
            "failed_requests": sum(1 for s in statuses if s != 200),
        }
    )
    print(rows[-1], flush=True)

    for row in rows:
        row["every_alert_one_outcome"] = (
            row["decided"] == row["distinct"] == args.ad1 and row["duplicates"] == 0
        )
        row["suppressions_right"] = row["suppressed"] == row["expected_suppressed"]
    results = {
        "machine": f"{platform.machine()}, {psutil.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "date": datetime.now(UTC).date().isoformat(),
        "esmes": args.esmes,
        "campaign": args.campaign,
        "rows": rows,
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{'path':24} {'AD1s':>10} {'seconds':>8} {'AD1/s':>8} {'peak MB':>8} one outcome")
    for r in rows:
        print(
            f"{r['path']:24} {r['ad1']:>10,} {r['seconds']:>8} {r['ad1_per_second']:>8,} "
            f"{r['peak_rss_tree_mb']:>8} {r['every_alert_one_outcome']} "
            f"(suppressions right: {r['suppressions_right']})"
        )


if __name__ == "__main__":
    main()
