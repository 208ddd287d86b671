"""The gate's cost against the number of open windows and the size of the fleet.

    .venv/bin/python benchmarks/scale.py [--alerts 200000] [--chart docs/img/scale.png]

Each point runs in a fresh process: it builds an inventory of F ESMEs and their hubs, a GUID
list of them all, opens K windows (immediate activations received in the last 25 minutes, spread
round-robin over the hubs, so a hub holds ceil(K/F) windows), then decides N AD1s through
``Gate.decide_ad1`` — all from hubs with a window, half in it (suppressed), half from before it
opened (forwarded), so that only the number of windows changes — and checks every decision
(three rounds; the median). It reports AD1s decided per second and the process's resident
memory (RSS) with the fleet alone, with the windows open, and at the end.

Curves: windows K = 1,000 … 1,000,000 on a fleet of 1,000,000; fleet F = 10,000 … 1,000,000
with 10,000 windows. Targets: throughput at 1,000,000 windows within 20% of that at 1,000;
at most 300 MB RSS with 1,000,000 open windows. Prints a table, writes
bench-output/scale/results.json and a PNG chart. Not part of the tests.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent

WINDOW_POINTS = (1_000, 10_000, 100_000, 1_000_000)
FLEET_POINTS = (10_000, 100_000, 1_000_000)
BIG_FLEET = 1_000_000
FLEET_CURVE_WINDOWS = 10_000


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def eui(prefix: int, serial: int) -> str:
    raw = f"{prefix:06X}{serial:010X}"
    return "-".join(raw[i : i + 2] for i in range(0, 16, 2))


def measure_point(fleet: int, windows: int, alerts: int) -> dict[str, Any]:
    """One point, in this process (the parent runs each point in a child)."""
    from poagate.domain.events import Activation, Ad1Alert
    from poagate.domain.gate import Gate
    from poagate.domain.outcomes import ForwardedAlert, SuppressionEntry
    from poagate.domain.reference import (
        Device,
        DeviceType,
        GuidList,
        GuidListVersion,
        Inventory,
        SmetsVersion,
    )

    gc.disable()  # as in a replay (see service/replay.py, collector_paused)
    start_rss = rss_mb()
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    esmes = [eui(0x00DB12, i) for i in range(fleet)]
    hubs = [eui(0x00157B, i) for i in range(fleet)]
    devices: list[Device] = []
    for i in range(fleet):
        devices.append(
            Device(
                esmes[i],
                DeviceType.ESME,
                SmetsVersion.SMETS2,
                "LANDIS+GYR",
                chf_id=hubs[i],
                mpan="1012345678905",
                network_operator=f"{10 + i % 14}",
                postcode="SW1A 1AA",
            )
        )
        devices.append(Device(hubs[i], DeviceType.CHF, SmetsVersion.SMETS2, "TOSHIBA"))
    inventory = Inventory(devices)
    del devices
    version = GuidListVersion(1, now, fleet, "0" * 64)
    gate = Gate(inventory, GuidList(version, frozenset(esmes)))
    fleet_rss = rss_mb()

    user = "90-B3-D5-1F-30-01-00-00"
    spread = timedelta(minutes=25) / max(windows, 1)
    first = now - timedelta(minutes=25)
    started = time.perf_counter()
    for k in range(windows):
        gate.activate(
            Activation(f"{user}:{esmes[k % fleet]}:{k}", user, esmes[k % fleet], first + spread * k)
        )
    open_seconds = time.perf_counter() - started
    windows_rss = rss_mb()

    # Every alert comes from a hub with a window, so that every point does the same work and
    # only the number of windows differs: half in the window (suppressed), half from an hour
    # before it (forwarded). Three rounds, each of new alert_ids; the median.
    with_window = min(windows, fleet)
    decide = gate.decide_ad1
    timings: list[float] = []
    wrong = 0
    for round_no in range(3):
        probes: list[tuple[Ad1Alert, bool]] = []
        for n in range(alerts):
            suppress = n % 2 == 0
            spot = (n * 7919 + round_no) % fleet
            hub = hubs[spot % with_window]
            event = now if suppress else first - timedelta(hours=1)
            probes.append((Ad1Alert(f"A{round_no}-{n}", hub, now, event), suppress))
        started = time.perf_counter()
        outcomes = [decide(alert, now) for alert, _ in probes]
        timings.append(time.perf_counter() - started)
        wrong += sum(
            1
            for (_, suppress), outcome in zip(probes, outcomes, strict=True)
            if type(outcome) is not (SuppressionEntry if suppress else ForwardedAlert)
        )
        del probes, outcomes
    decide_seconds = sorted(timings)[1]
    end_rss = rss_mb()
    return {
        "fleet": fleet,
        "windows": windows,
        "open_windows_seen": gate.open_windows(now),
        "alerts": alerts,
        "rounds": 3,
        "ad1_per_second": round(alerts / decide_seconds),
        "us_per_ad1": round(decide_seconds / alerts * 1e6, 2),
        "windows_opened_per_second": round(windows / open_seconds) if open_seconds else None,
        "rss_start_mb": round(start_rss),
        "rss_fleet_mb": round(fleet_rss),
        "rss_windows_mb": round(windows_rss),
        "rss_end_mb": round(end_rss),
        "wrong_decisions": wrong,
    }


def run_point(fleet: int, windows: int, alerts: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--point", str(fleet), str(windows), "--alerts", str(alerts)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def chart(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    window_rows = [r for r in rows if r["curve"] == "windows"]
    fleet_rows = [r for r in rows if r["curve"] == "fleet"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.plot(
        [r["windows"] for r in window_rows],
        [r["ad1_per_second"] / 1e3 for r in window_rows],
        marker="o",
        label=f"fleet {BIG_FLEET:,}, by open windows",
    )
    left.plot(
        [r["fleet"] for r in fleet_rows],
        [r["ad1_per_second"] / 1e3 for r in fleet_rows],
        marker="s",
        label=f"{FLEET_CURVE_WINDOWS:,} windows, by fleet size",
    )
    left.set_xscale("log")
    left.set_ylim(bottom=0)
    left.set_xlabel("open windows, or ESMEs in the fleet (log scale)")
    left.set_ylabel("AD1s decided, thousands a second")
    left.set_title("Gate throughput")
    left.grid(alpha=0.3, which="both")
    left.legend(fontsize=8)
    right.plot(
        [r["windows"] for r in window_rows],
        [r["rss_windows_mb"] for r in window_rows],
        marker="o",
        label="whole process: the fleet's inventory and the windows",
    )
    right.plot(
        [r["windows"] for r in window_rows],
        [r["rss_windows_mb"] - r["rss_fleet_mb"] for r in window_rows],
        marker="^",
        label="the windows alone",
    )
    right.axhline(300, color="red", linewidth=0.8, linestyle="--", label="target 300 MB")
    right.set_xscale("log")
    right.set_xlabel(f"open windows (fleet of {BIG_FLEET:,}; log scale)")
    right.set_ylabel("resident memory, MB")
    right.set_title("Memory")
    right.grid(alpha=0.3, which="both")
    right.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=200_000)
    parser.add_argument("--point", type=int, nargs=2, metavar=("FLEET", "WINDOWS"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench-output" / "scale")
    parser.add_argument("--chart", type=Path, default=ROOT / "docs" / "img" / "scale.png")
    args = parser.parse_args()
    if args.point:
        print(json.dumps(measure_point(args.point[0], args.point[1], args.alerts)))
        return
    rows: list[dict[str, Any]] = []
    plan = [("windows", BIG_FLEET, k) for k in WINDOW_POINTS]
    plan += [("fleet", f, FLEET_CURVE_WINDOWS) for f in FLEET_POINTS]
    for curve, fleet, windows in plan:
        row = {"curve": curve, **run_point(fleet, windows, args.alerts)}
        rows.append(row)
        print(
            f"{curve:8} fleet {fleet:>9,} windows {windows:>9,}: {row['ad1_per_second']:>9,} "
            f"AD1/s ({row['us_per_ad1']} µs), RSS {row['rss_windows_mb']} MB "
            f"(windows {row['rss_windows_mb'] - row['rss_fleet_mb']} MB), "
            f"wrong {row['wrong_decisions']}",
            flush=True,
        )
    by_windows = {r["windows"]: r for r in rows if r["curve"] == "windows"}
    low, high = by_windows[WINDOW_POINTS[0]], by_windows[WINDOW_POINTS[-1]]
    ratio = high["ad1_per_second"] / low["ad1_per_second"]
    results = {
        "machine": f"{platform.machine()}, {psutil.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "date": datetime.now(UTC).date().isoformat(),
        "alerts_per_point": args.alerts,
        "rows": rows,
        "throughput_1m_over_1k": round(ratio, 3),
        "rss_with_1m_windows_mb": high["rss_windows_mb"],
        "targets": {"throughput_1m_over_1k": ">= 0.8", "rss_with_1m_windows_mb": "<= 300"},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    chart(rows, args.chart)
    print(
        f"\nthroughput at {WINDOW_POINTS[-1]:,} windows / at {WINDOW_POINTS[0]:,}: {ratio:.2f} "
        f"(target >= 0.80); RSS with {WINDOW_POINTS[-1]:,} windows: {high['rss_windows_mb']} MB "
        f"(target <= 300); chart {args.chart}"
    )


if __name__ == "__main__":
    main()
