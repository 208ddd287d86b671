"""Great Britain's fleet (spec §11): loads, changes and decisions at 20,000, 2 million and 20
million ESMEs (inventories of 40,000, 4 million and 40 million rows).

For each fleet, on a fresh SQLite store, every step a command as an operator runs it (process
start included):

* **full load**: ``poagate inventory load``: rows/s, and its time over ``csv.reader``'s over the
  same file; the loading process's peak RSS;
* **GUID list**: ``poagate guid-list load`` (timed, not a target);
* **change file**: ``poagate inventory apply`` of 100,000 rows (hub exchanges, manufacturer
  corrections, removals, new sites);
* **replay**: ``poagate replay`` without ``--inventory`` (the store's) of 2,000 activations and
  200,000 AD1s from hubs across the whole fleet: AD1 decisions/s and the peak RSS of its
  processes;
* **HTTP**: ``poagate serve`` (one worker) on the store; batches of 1,000 JSON AD1s from hubs
  across the fleet, 4 connections for ``--seconds`` (wrk): AD1s/s and the server's peak RSS.

Decisions are measured in ``--rounds`` rounds, each fleet in turn within a round, so that the
fleets see the same machine; the median is reported with every round's figure.

Then the two whole-replay targets: a fresh store, ``--inventory`` given, against the time
merely to read the input (``csv.reader`` over the inventory and ``json.loads`` over each event
line): 25,000 events at 4 million rows, and 300,000 events at 400,000 rows.

Files are generated seeded (``fleet_files.py``) into ``bench-output/fleet/files`` and kept;
figures go to ``bench-output/fleet/results.json``, the chart to ``docs/img/fleet.png``
(``--chart``). Each figure is printed with ``/proc/loadavg`` as it began: this machine's two
cores are shared, and figures move with what else runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import time
from typing import Any

import orjson
from tests.helpers import wait_until_ready
from tests.pg import free_port

import fleet_files
from benchlib import PeakRss, http_benchmark

ROOT = Path(__file__).resolve().parent.parent
POAGATE = Path(sys.executable).with_name("poagate")
OUT = ROOT / "bench-output" / "fleet"

WRK_LUA = """
local token, fleet, run = "%(token)s", %(fleet)d, "%(run)s"
local counter, threads, tid = 0, 0, 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function init(args) math.randomseed(tid * 7919) end
local function hub(serial)
  local b = {}
  for i = 5, 1, -1 do b[i] = serial %% 256; serial = math.floor(serial / 256) end
  return string.format("00-15-7B-%%02X-%%02X-%%02X-%%02X-%%02X", b[1], b[2], b[3], b[4], b[5])
end
request = function()
  local lines = {}
  for i = 1, 1000 do
    counter = counter + 1
    lines[i] = '{"type":"ad1","alert_id":"' .. run .. '-' .. tid .. '-' .. counter
      .. '","chf_id":"' .. hub(math.random(0, fleet - 1)) .. '"}'
  end
  return wrk.format("POST", "/v1/messages",
    {["Content-Type"] = "application/x-ndjson", ["Authorization"] = "Bearer " .. token},
    table.concat(lines, "\\n"))
end
"""


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run a command: its wall time, the peak RSS of its process tree (MB), its output."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    with PeakRss(process.pid) as peak:
        output, _ = process.communicate()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{output[-3000:]}")
    return seconds, peak.tree_mb, output


def csv_reader_seconds(path: Path) -> float:
    started = time.perf_counter()
    with path.open(newline="") as f:
        for _ in csv.reader(f):
            pass
    return time.perf_counter() - started


def json_loads_seconds(path: Path) -> float:
    started = time.perf_counter()
    with path.open("rb") as f:
        for line in f:
            json.loads(line)
    return time.perf_counter() - started


def fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm", ".lock", ".write.lock", ".writer.lock"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def fleet_run(esmes: int, work: Path) -> dict[str, Any]:
    files = fleet_files.write_inventory(OUT / "files", esmes)
    inventory = files["inventory"]
    rows = 2 * esmes
    db = fresh(work / f"fleet-{esmes}.db")
    database = f"sqlite:///{db}"
    result: dict[str, Any] = {"esmes": esmes, "rows": rows}

    from poagate.store.database import open_store

    open_store(
        database, "service", schema="create"
    ).close()  # the schema, as a store in use has it already
    result["loadavg_load"] = loadavg()
    reader = csv_reader_seconds(inventory)
    load, load_rss, _ = timed(
        [str(POAGATE), "inventory", "load", "--database", database, str(inventory)]
    )
    result.update(
        csv_reader_seconds=round(reader, 2),
        load_seconds=round(load, 2),
        load_rows_per_second=round(rows / load),
        load_over_csv_reader=round(load / reader, 2),
        load_peak_rss_mb=round(load_rss),
    )
    print(
        f"  full load: {rows:,} rows in {load:.1f} s ({rows / load:,.0f} rows/s, "
        f"{load / reader:.2f}× csv.reader's {reader:.1f} s), peak RSS {load_rss:.0f} MB "
        f"[load {result['loadavg_load']}]",
        flush=True,
    )

    guid, _, _ = timed(
        [str(POAGATE), "guid-list", "load", "--database", database, str(files["guid_list"])]
    )
    result["guid_list_seconds"] = round(guid, 2)
    print(f"  GUID list: {guid:.1f} s", flush=True)

    result["loadavg_changes"] = loadavg()
    changes, _, _ = timed(
        [str(POAGATE), "inventory", "apply", "--database", database, str(files["changes"])]
    )
    result["change_file_seconds"] = round(changes, 2)
    print(
        f"  change file of 100,000 rows: {changes:.2f} s [load {result['loadavg_changes']}]",
        flush=True,
    )

    return result


def forget_decisions(db: Path) -> None:
    """Empty the store of decisions (not of the fleet), so that each run starts alike: a replay
    writes every outcome its store holds, and those of earlier rounds would be timed too."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        for table in (
            "ad1_outcomes",
            "ad1_duplicates",
            "activations",
            "activation_outcomes",
            "device_messages",
            "ignored_inputs",
            "sources",
            "outbox",
        ):
            conn.execute(f"DELETE FROM {table}")  # noqa: S608 - the names are the lines above
        conn.execute("DELETE FROM rejected_inputs WHERE kind = 'event'")


def replay_run(esmes: int, work: Path, round_number: int) -> dict[str, Any]:
    """One replay of 2,000 activations and 200,000 AD1s against the fleet in the store."""
    files = fleet_files.write_inventory(OUT / "files", esmes)
    db = work / f"fleet-{esmes}.db"
    forget_decisions(db)
    events = fleet_files.write_events(
        work / f"events-{esmes}-{round_number}.jsonl",
        esmes,
        200_000,
        2_000,
        f"r{esmes}-{round_number}-{time.time_ns()}",  # new alert_ids: a new input each run
        seed=11 + round_number,
    )
    average = loadavg()
    out = work / f"replay-{esmes}"
    shutil.rmtree(out, ignore_errors=True)
    seconds, rss, _ = timed(
        [str(POAGATE), "replay", "--guid-list", str(files["guid_list"]), "--db", str(db),
         "--out", str(out), str(events)]
    )  # fmt: skip
    summary = orjson.loads((out / "summary.json").read_bytes())
    decided = summary["run"]["events_processed"]
    print(
        f"  {esmes:,} ESMEs, replay: {decided:,} events in {seconds:.1f} s "
        f"({decided / seconds:,.0f}/s end to end), peak RSS {rss:.0f} MB [load {average}]",
        flush=True,
    )
    return {
        "events_per_second": round(decided / seconds),
        "peak_rss_mb": round(rss),
        "loadavg": average,
    }


def http_run(database: str, esmes: int, seconds: int) -> dict[str, Any]:
    http = http_benchmark()
    wrk = http.ensure_wrk()
    token = http.new_token()
    from datetime import UTC, datetime

    from poagate.store.database import open_store

    with open_store(database, "service") as store:
        store.tokens.add(http.token_sha256(token), "dsp", [], "benchmark", datetime.now(UTC), "b")
    port = free_port()
    process = subprocess.Popen(
        [str(POAGATE), "serve", "--database", database, "--port", str(port), "--workers", "1",
         "--no-deliveries", "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_ready(url, process):
            raise SystemExit("the server did not start")
        figures: dict[str, Any] = {"loadavg_http": loadavg()}
        with PeakRss(process.pid) as peak:
            batch = http.run_wrk(
                wrk, WRK_LUA % {"token": token, "fleet": esmes, "run": f"h{time.time_ns()}"},
                url, 4, seconds, 1,
            )  # fmt: skip
        figures.update(
            http_ad1_per_second=round(batch["requests_per_second"] * 1000),
            http_errors=batch["non_2xx"] + batch["timeouts"],
            server_peak_rss_mb=round(peak.tree_mb),
        )
        print(
            f"  {esmes:,} ESMEs, HTTP batches: {figures['http_ad1_per_second']:,} AD1/s, "
            f"{figures['http_errors']} errors, server peak RSS {peak.tree_mb:.0f} MB "
            f"[load {figures['loadavg_http']}]",
            flush=True,
        )
        return figures
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=120)


def whole_replay(esmes: int, events: int, work: Path) -> dict[str, Any]:
    """A fresh replay, the inventory loaded by it, against the time to read its input."""
    files = fleet_files.write_inventory(OUT / "files", esmes)
    activations = events // 10
    path = fleet_files.write_events(
        work / f"whole-{esmes}-{events}.jsonl", esmes, events - activations, activations, "w"
    )
    db = fresh(work / f"whole-{esmes}.db")
    out = work / f"whole-{esmes}"
    shutil.rmtree(out, ignore_errors=True)
    read = csv_reader_seconds(files["inventory"]) + json_loads_seconds(path)
    average = loadavg()
    seconds, rss, _ = timed(
        [str(POAGATE), "replay", "--inventory", str(files["inventory"]), "--guid-list",
         str(files["guid_list"]), "--db", str(db), "--out", str(out), str(path)]
    )  # fmt: skip
    print(
        f"  whole replay, {2 * esmes:,} rows and {events:,} events: {seconds:.1f} s, "
        f"{seconds / read:.2f}× the {read:.1f} s to read its input, peak RSS {rss:.0f} MB "
        f"[load {average}]",
        flush=True,
    )
    return {
        "rows": 2 * esmes,
        "events": events,
        "seconds": round(seconds, 2),
        "read_seconds": round(read, 2),
        "ratio": round(seconds / read, 2),
        "peak_rss_mb": round(rss),
        "loadavg": average,
    }


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fleets = results["fleets"]
    rows = [f["rows"] for f in fleets]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(rows, [f["load_rows_per_second"] for f in fleets], "o-", label="full load rows/s")
    left.axhline(300_000, color="grey", linestyle=":", label="target 300,000 rows/s")
    left.set_xscale("log")
    left.set_xlabel("inventory rows")
    left.set_ylabel("rows/s")
    left.set_title("Full load")
    left.legend()
    right.plot(rows, [f["replay_events_per_second"] for f in fleets], "o-", label="replay")
    right.plot(rows, [f["http_ad1_per_second"] for f in fleets], "s-", label="HTTP batches")
    right.set_xscale("log")
    right.set_xlabel("inventory rows")
    right.set_ylabel("AD1 decisions/s")
    right.set_ylim(bottom=0)
    right.set_title("Decisions against the fleet's size")
    right.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20000,2000000,20000000", help="ESMEs, comma-separated")
    parser.add_argument("--seconds", type=int, default=15, help="HTTP load per fleet and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of decisions per fleet")
    parser.add_argument("--skip-whole", action="store_true", help="leave out the whole replays")
    parser.add_argument(
        "--decisions-only",
        action="store_true",
        help="measure decisions again on the stores of the last run (its load figures kept)",
    )
    parser.add_argument("--chart", action="store_true", help="write docs/img/fleet.png")
    args = parser.parse_args()
    work = OUT / "work"
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"fleets": [], "whole_replays": []}
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.decisions_only:  # the stores and load figures of the last run
        results = json.loads((OUT / "results.json").read_text())
        results["fleets"] = [f for f in results["fleets"] if f["esmes"] in sizes]
    else:
        for esmes in sizes:
            print(f"fleet of {esmes:,} ESMEs ({2 * esmes:,} rows)", flush=True)
            results["fleets"].append(fleet_run(esmes, work))
            (OUT / "results.json").write_text(json.dumps(results, indent=2))
    # Decisions: every fleet in turn, round after round, so that each sees the machine as the
    # others do; the median of the rounds.
    runs: dict[int, dict[str, list[Any]]] = {n: {"replay": [], "http": []} for n in sizes}
    for round_number in range(args.rounds):
        print(f"decisions, round {round_number + 1} of {args.rounds}", flush=True)
        for esmes in sizes:
            runs[esmes]["replay"].append(replay_run(esmes, work, round_number))
        for esmes in sizes:
            forget_decisions(work / f"fleet-{esmes}.db")
            database = f"sqlite:///{work / f'fleet-{esmes}.db'}"
            runs[esmes]["http"].append(http_run(database, esmes, args.seconds))
    for fleet in results["fleets"]:
        replays, https = runs[fleet["esmes"]]["replay"], runs[fleet["esmes"]]["http"]
        fleet.update(
            replay_events_per_second=statistics.median(r["events_per_second"] for r in replays),
            replay_rounds=[r["events_per_second"] for r in replays],
            replay_peak_rss_mb=max(r["peak_rss_mb"] for r in replays),
            http_ad1_per_second=statistics.median(h["http_ad1_per_second"] for h in https),
            http_rounds=[h["http_ad1_per_second"] for h in https],
            http_errors=sum(h["http_errors"] for h in https),
            server_peak_rss_mb=max(h["server_peak_rss_mb"] for h in https),
            decision_loadavgs=[r["loadavg"] for r in replays] + [h["loadavg_http"] for h in https],
        )
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    if not args.skip_whole:
        print("whole replays", flush=True)
        results["whole_replays"] = [
            whole_replay(2_000_000, 25_000, work),
            whole_replay(200_000, 300_000, work),
        ]
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    if args.chart and results["fleets"]:
        chart(results, ROOT / "docs" / "img" / "fleet.png")


if __name__ == "__main__":
    main()
