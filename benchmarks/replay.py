"""Replay throughput on a large seeded input, against merely reading the same input.

    .venv/bin/python benchmarks/replay.py [--ad1 1000000] [--activations 200000] [--esmes 200000]

Generates (once, cached under bench-output/replay/input) a fleet and a month of traffic with the
given numbers of AD1s and activations, then measures:

* parse-only: ``csv.reader`` over the inventory and ``json.loads`` over every event line;
* ``poagate replay`` end to end into a fresh SQLite store, as a subprocess: wall time, events/s,
  and peak RSS of the replay process and of its whole process tree (it starts a writer);
* DUIS XML: messages parsed and decided per second, in process.

Prints a table and writes bench-output/replay/results.json. Not part of the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import platform
import random
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

from benchlib import PeakRss  # benchmarks/ is on sys.path when a benchmark runs as a script
from poagate.domain.events import Ignored
from poagate.domain.gate import Gate
from poagate.domain.reference import GuidList, Inventory
from poagate.formats.duis import parse_duis
from poagate.formats.reference.guid_list import read_guid_list
from poagate.formats.reference.inventory import write_inventory
from poagate.formats.reference.inventory_columns import read_inventory
from poagate.sim import duis
from poagate.sim.fleet import FleetSpec, generate_fleet
from poagate.sim.traffic import TrafficSpec, generate_traffic

ROOT = Path(__file__).resolve().parent.parent
POAGATE = Path(sys.executable).with_name("poagate")


def generate(out: Path, esmes: int, activations: int, ad1: int, seed: int) -> list[Path]:
    stamp = out / "params.json"
    params = {"esmes": esmes, "activations": activations, "ad1": ad1, "seed": seed, "v": 1}
    events = [out / "requests.jsonl", out / "alerts.jsonl"]
    if stamp.exists() and json.loads(stamp.read_text()) == params:
        return events
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    started = time.perf_counter()
    fleet = generate_fleet(FleetSpec(esmes=esmes, seed=seed))
    # Firmware-caused AD1s come from the activations; genuine ones make up the rest.
    firmware_estimate = round(activations * 0.4 * 0.6 * 0.62)
    traffic = generate_traffic(
        fleet,
        TrafficSpec(
            start=datetime(2026, 3, 2, tzinfo=UTC),
            days=30,
            activations=activations,
            genuine_ad1=max(0, ad1 - firmware_estimate),
            duplicate_share=0.005,
            malformed=100,
            seed=seed,
        ),
        keep_truth=False,
    )
    with (out / "inventory.csv").open("w", newline="") as f:
        write_inventory(fleet.devices(), f)
    (out / "guid-list.txt").write_text("\n".join(fleet.guid_list()) + "\n")
    traffic.write(out)
    stamp.write_text(json.dumps(params))
    print(f"generated input in {time.perf_counter() - started:.1f} s: {traffic.counts}")
    return events


def parse_only(inventory: Path, events: list[Path]) -> tuple[float, int, int]:
    started = time.perf_counter()
    with inventory.open(newline="") as f:
        rows = sum(1 for _ in csv.reader(f))
    lines = 0
    for path in events:
        with path.open("rb") as f:
            for line in f:
                if line.strip():
                    with contextlib.suppress(ValueError):  # the input has malformed lines
                        json.loads(line)
                    lines += 1
    return time.perf_counter() - started, rows, lines


def run_replay(
    workdir: Path, inventory: Path, guid: Path, events: list[Path], fresh: bool = True
) -> dict[str, float]:
    """``poagate replay`` as a subprocess into ``workdir`` (emptied first unless ``fresh`` is
    false, to resume on its store): wall time, peak RSS, and figures of its summary."""
    if fresh:
        shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    command = [
        str(POAGATE),
        "replay",
        "--inventory",
        str(inventory),
        "--guid-list",
        str(guid),
        "--db",
        str(workdir / "poagate.db"),
        "--out",
        str(workdir / "out"),
        *map(str, events),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with PeakRss(process.pid) as peak:
        process.wait()
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"poagate replay failed with exit code {process.returncode}")
    summary = json.loads((workdir / "out" / "summary.json").read_text())
    return {
        "seconds": elapsed,
        "events": summary["events_read"],
        "peak_rss_main_mb": peak.main_mb,
        "peak_rss_tree_mb": peak.tree_mb,
        "ad1_suppressed": summary["ad1_suppressed"],
        "ad1_forwarded": summary["ad1_forwarded"],
        "replay_seconds_inside": summary["run"]["seconds"],
    }


def duis_throughput(inventory: Path, guid: Path, messages: int, seed: int) -> float:
    """Parse and decide ``messages`` DUIS messages in process (the fleet held in a dictionary
    inventory); messages per second."""
    rng = random.Random(seed)
    with inventory.open() as f:
        fleet = Inventory(read_inventory(f, str(inventory)).devices)
    with guid.open() as f:
        listed = read_guid_list(f, str(guid))
    gate = Gate(fleet, GuidList(None, listed.devices))
    devices = [d for d in fleet if d.chf_id is not None][:50_000]
    start = datetime(2026, 3, 2, tzinfo=UTC)
    corpus: list[tuple[bytes, datetime]] = []
    for n in range(messages):
        device = rng.choice(devices)
        at = start + timedelta(seconds=n)
        kind = n % 10
        if kind < 6:
            xml = duis.ad1_alert(f"AD1-X-{n}", device.chf_id or "", at - timedelta(minutes=3))
        elif kind < 8:
            xml = duis.activate_firmware(
                f"90-B3-D5-1F-30-01-00-00:{device.device_id}:{n}",
                None if kind == 6 else at + timedelta(hours=4),
            )
        elif kind == 8:
            xml = duis.success_response(device.device_id, "90-B3-D5-1F-30-01-00-00", n)
        else:
            xml = duis.future_dated_outcome(
                device.device_id,
                "90-B3-D5-1F-30-01-00-00",
                f"90-B3-D5-1F-30-01-00-00:{device.device_id}:{n}",
                True,
            )
        corpus.append((xml.encode(), at))
    started = time.perf_counter()
    for data, at in corpus:
        event = parse_duis(data, at)
        if type(event) is not Ignored:
            gate.apply(event, at)  # type: ignore[arg-type]
    return messages / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ad1", type=int, default=1_000_000)
    parser.add_argument("--activations", type=int, default=200_000)
    parser.add_argument("--esmes", type=int, default=200_000)
    parser.add_argument("--duis", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-output" / "replay")
    args = parser.parse_args()

    inputs = args.out / "input"
    events = generate(inputs, args.esmes, args.activations, args.ad1, args.seed)
    inventory, guid = inputs / "inventory.csv", inputs / "guid-list.txt"
    base_seconds, rows, lines = parse_only(inventory, events)
    result = run_replay(args.out / "run", inventory, guid, events)
    duis_rate = duis_throughput(inventory, guid, args.duis, args.seed)

    events_per_second = result["events"] / result["seconds"]
    ratio = result["seconds"] / base_seconds
    figures = {
        "machine": f"{platform.machine()}, {psutil.cpu_count()} CPUs, Python "
        f"{platform.python_version()}",
        "date": datetime.now(UTC).date().isoformat(),
        "inventory_rows": rows - 1,
        "event_lines": lines,
        "parse_only_seconds": round(base_seconds, 2),
        "replay_seconds": round(result["seconds"], 2),
        "events_per_second": round(events_per_second),
        "replay_over_parse_only": round(ratio, 2),
        "peak_rss_replay_mb": round(result["peak_rss_main_mb"]),
        "peak_rss_process_tree_mb": round(result["peak_rss_tree_mb"]),
        "duis_messages_per_second": round(duis_rate),
        "ad1_suppressed": result["ad1_suppressed"],
        "ad1_forwarded": result["ad1_forwarded"],
    }
    (args.out / "results.json").write_text(json.dumps(figures, indent=2) + "\n")
    targets = {
        "events_per_second": ">= 100,000",
        "replay_over_parse_only": "<= 3",
        "peak_rss_replay_mb": "<= 500",
        "duis_messages_per_second": ">= 20,000",
    }
    print(f"{'figure':32} {'measured':>14}  target")
    for key, value in figures.items():
        shown = f"{value:,}" if isinstance(value, int | float) else str(value)
        print(f"{key:32} {shown:>14}  {targets.get(key, '')}")


if __name__ == "__main__":
    main()
