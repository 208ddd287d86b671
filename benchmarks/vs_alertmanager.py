"""poagate against Prometheus Alertmanager with one silence per firmware window, side by side.

    .venv/bin/python benchmarks/vs_alertmanager.py [--windows 1000 10000 100000] [--alerts 100000]

A DCC engineer's obvious alternative to poagate: Alertmanager, with a silence per open window
(matcher ``chf_id``, ``startsAt``, ``endsAt``). For each K open windows both do the same work:

* **Alertmanager** (Debian's ``prometheus-alertmanager``, installed when missing; skipped with a
  message if it cannot be) is started by this benchmark on loopback with its own storage
  directory and a blackhole receiver. K silences are created; then N AD1 alerts are posted (half
  from hubs with a silence), and the alerts are read back until every one is processed and
  exactly the expected half is silenced. alerts/s = N / (posting + reading back until right).
  Alertmanager's cost grows with every silence, so for large K it is given fewer alerts
  (``--am-alerts``); the table says how many.
* **poagate replay**: the same K windows as activations (one replay), then the N AD1s as a second
  replay on the same store — a new process that restores the K windows and decides every AD1.
  alerts/s = N / the second replay's wall time, process start included.
* **poagate over HTTP**: one server process; the K activations, then the N AD1s as JSON Lines
  batches of 1,000; every answer carries every decision. alerts/s = N / posting time.

Each side is a child of this process, one after the other; the peak RSS of each is sampled.
Every decision is checked on both sides. Writes bench-output/vs_alertmanager/results.json and
prints the ratio poagate / Alertmanager. Not part of the tests.
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
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import stop_process
from tests.pg import free_port

from benchlib import PeakRss, http_benchmark
from poagate.domain.ids import mpan_check_digit
from poagate.domain.reference import Device, DeviceType, SmetsVersion
from poagate.formats.reference.inventory import write_inventory
from poagate.formats.timestamps import format_timestamp
from replay import run_replay

ALERTMANAGER = "prometheus-alertmanager"
AM_CONFIG = """route:
  receiver: blackhole
  group_by: ['alertname']
receivers:
  - name: blackhole
"""
USER = "90-B3-D5-1F-30-01-00-00"


def ensure_alertmanager() -> str | None:
    found = shutil.which(ALERTMANAGER)
    if found:
        return found
    print("installing prometheus-alertmanager (Debian package) for the comparison", flush=True)
    install = ["apt-get", "install", "-y", "-qq", ALERTMANAGER]
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    if subprocess.run(install, check=False, capture_output=True, env=env).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(install, check=False, capture_output=True, env=env)
    return shutil.which(ALERTMANAGER)


def eui(prefix: int, serial: int) -> str:
    raw = f"{prefix:06X}{serial:010X}"
    return "-".join(raw[i : i + 2] for i in range(0, 16, 2))


class Fleet:
    """F Landis+Gyr SMETS2 ESMEs with their hubs, all on the GUID list: window k is on hub k,
    and the AD1s outside windows come from the hubs after the last window."""

    def __init__(self, size: int) -> None:
        self.esmes = [eui(0x00DB12, i) for i in range(size)]
        self.hubs = [eui(0x00157B, i) for i in range(size)]

    def write(self, directory: Path) -> tuple[Path, Path]:
        inventory, guid = directory / "inventory.csv", directory / "guid.txt"
        devices = []
        for i, (esme, hub) in enumerate(zip(self.esmes, self.hubs, strict=True)):
            operator = f"{10 + i % 14}"
            first = f"{operator}{i:010d}"
            mpan = first + str(mpan_check_digit(first))
            devices.append(
                Device(
                    esme,
                    DeviceType.ESME,
                    SmetsVersion.SMETS2,
                    "LANDIS+GYR",
                    hub,
                    mpan,
                    operator,
                    "SW1A 1AA",
                )
            )
            devices.append(Device(hub, DeviceType.CHF, SmetsVersion.SMETS2, "TOSHIBA"))
        with inventory.open("w", newline="") as f:
            write_inventory(devices, f)
        guid.write_text("\n".join(self.esmes) + "\n")
        return inventory, guid

    def alerts(self, windows: int, count: int) -> list[tuple[str, str, bool]]:
        """(alert_id, hub, in a window) for ``count`` AD1s, every other one in a window."""
        out = []
        outside = len(self.hubs) - windows
        for n in range(count):
            inside = n % 2 == 0 and windows > 0
            hub = self.hubs[n % windows] if inside else self.hubs[windows + n % outside]
            out.append((f"AD1-{windows}-{n:07d}", hub, inside))
        return out


# -- Alertmanager ----------------------------------------------------------------------------


class Alertmanager:
    def __init__(self, binary: str, directory: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (directory / "am.yml").write_text(AM_CONFIG)
        (directory / "data").mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={directory / 'am.yml'}",
                f"--storage.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=error",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise SystemExit("Alertmanager did not start")

    def stop(self) -> None:
        stop_process(self.process)


async def create_silences(url: str, hubs: list[str], now: datetime) -> None:
    starts, ends = (
        format_timestamp(now - timedelta(minutes=1)),
        format_timestamp(now + timedelta(minutes=30)),
    )
    queue = list(reversed(hubs))

    async def worker() -> None:
        async with httpx.AsyncClient(timeout=120) as http:
            while queue:
                hub = queue.pop()
                body = {
                    "matchers": [
                        {"name": "chf_id", "value": hub, "isRegex": False, "isEqual": True}
                    ],
                    "startsAt": starts,
                    "endsAt": ends,
                    "createdBy": "poagate benchmark",
                    "comment": "firmware activation window",
                }
                answer = await http.post(f"{url}/api/v2/silences", json=body)
                answer.raise_for_status()

    await asyncio.gather(*(worker() for _ in range(8)))


def alertmanager_run(
    am: Alertmanager, alerts: list[tuple[str, str, bool]], now: datetime
) -> dict[str, Any]:
    """Post the alerts, then read them back until every one is processed and the silenced ones
    are exactly those in windows."""
    starts = format_timestamp(now)
    ends = format_timestamp(now + timedelta(hours=2))
    expected = {alert_id for alert_id, _, inside in alerts if inside}
    started = time.perf_counter()
    with httpx.Client(timeout=1800) as http:
        for i in range(0, len(alerts), 1000):
            body = [
                {
                    "labels": {"alertname": "AD1", "chf_id": hub, "alert_id": alert_id},
                    "startsAt": starts,
                    "endsAt": ends,
                }
                for alert_id, hub, _ in alerts[i : i + 1000]
            ]
            http.post(f"{am.url}/api/v2/alerts", json=body).raise_for_status()
        reads = 0
        while True:
            reads += 1
            got = orjson.loads(http.get(f"{am.url}/api/v2/alerts").content)
            silenced = {
                a["labels"]["alert_id"] for a in got if a["status"]["state"] == "suppressed"
            }
            processed = sum(1 for a in got if a["status"]["state"] != "unprocessed")
            if len(got) == len(alerts) and processed == len(alerts) and silenced == expected:
                correct = True
                break
            if time.perf_counter() - started > 1800:
                correct = False
                break
            time.sleep(0.2)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "reads": reads, "correct": correct}


# -- poagate ---------------------------------------------------------------------------------


def activation_lines(fleet: Fleet, windows: int, at: datetime | None) -> list[bytes]:
    lines = []
    for k in range(windows):
        line: dict[str, Any] = {
            "type": "activation",
            "request_id": f"{USER}:{fleet.esmes[k]}:{k + 1}",
        }
        if at is not None:
            line["received_at"] = format_timestamp(at)
        lines.append(orjson.dumps(line))
    return lines


def ad1_lines(alerts: list[tuple[str, str, bool]], at: datetime | None) -> list[bytes]:
    lines = []
    for alert_id, hub, _ in alerts:
        line: dict[str, Any] = {"type": "ad1", "alert_id": alert_id, "chf_id": hub}
        if at is not None:
            line["received_at"] = format_timestamp(at)
        lines.append(orjson.dumps(line))
    return lines


def poagate_replay_run(
    work: Path,
    inventory: Path,
    guid: Path,
    fleet: Fleet,
    windows: int,
    alerts: list[tuple[str, str, bool]],
) -> dict[str, Any]:
    """Open the windows in one replay, then time a second replay that decides the AD1s."""
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    opening = work / "activations.jsonl"
    opening.write_bytes(b"\n".join(activation_lines(fleet, windows, now)) + b"\n")
    storm = work / "ad1.jsonl"
    storm.write_bytes(b"\n".join(ad1_lines(alerts, now + timedelta(minutes=5))) + b"\n")
    run = work / "replay"
    run_replay(run, inventory, guid, [opening])
    # The same command with the AD1s added resumes: the windows are applied already.
    result = run_replay(run, inventory, guid, [opening, storm], fresh=False)
    suppressed = {
        json.loads(line)["alert_id"] for line in (run / "out" / "suppression_log.jsonl").open()
    }
    expected = {alert_id for alert_id, _, inside in alerts if inside}
    return {
        "seconds": result["seconds"],
        "peak_rss_mb": result["peak_rss_tree_mb"],
        "correct": suppressed == expected,
    }


def poagate_http_run(
    work: Path,
    inventory: Path,
    guid: Path,
    fleet: Fleet,
    windows: int,
    alerts: list[tuple[str, str, bool]],
) -> dict[str, Any]:
    database = f"sqlite:///{work / 'http.db'}"
    for path in work.glob("http.db*"):
        path.unlink()
    bench_http = http_benchmark()
    token = bench_http.load_store(database, inventory, guid)
    server = bench_http.Server(database, 1)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    try:
        with httpx.Client(timeout=600) as http:
            opening = activation_lines(fleet, windows, None)
            for i in range(0, len(opening), 1000):
                http.post(
                    f"{server.url}/v1/messages",
                    content=b"\n".join(opening[i : i + 1000]),
                    headers=headers,
                ).raise_for_status()
            lines = ad1_lines(alerts, None)
            suppressed: set[str] = set()
            with PeakRss(server.process.pid) as peak:
                started = time.perf_counter()
                for i in range(0, len(lines), 1000):
                    answer = http.post(
                        f"{server.url}/v1/messages",
                        content=b"\n".join(lines[i : i + 1000]),
                        headers=headers,
                    )
                    answer.raise_for_status()
                    suppressed.update(
                        item["alert_id"]
                        for item in answer.json()["items"]
                        if item["outcome"] == "suppressed"
                    )
                seconds = time.perf_counter() - started
    finally:
        server.stop()
    expected = {alert_id for alert_id, _, inside in alerts if inside}
    return {"seconds": seconds, "peak_rss_mb": peak.tree_mb, "correct": suppressed == expected}


def poagate_figures(result: dict[str, Any], alerts: int) -> dict[str, Any]:
    return {
        "alerts": alerts,
        "alerts_per_second": round(alerts / result["seconds"]),
        "seconds": round(result["seconds"], 2),
        "peak_rss_mb": round(result["peak_rss_mb"]),
        "correct": result["correct"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=int, nargs="+", default=[0, 1_000, 10_000, 100_000])
    parser.add_argument("--alerts", type=int, default=100_000, help="AD1s for poagate")
    parser.add_argument(
        "--am-alerts",
        type=int,
        nargs="+",
        default=[10_000, 10_000, 10_000, 1_000],
        help="AD1s for Alertmanager at each --windows (its cost grows with every silence)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench-output" / "vs_alertmanager")
    args = parser.parse_args()
    binary = ensure_alertmanager()
    if binary is None:
        print(
            "SKIPPED: Debian's prometheus-alertmanager is not installed and could not be "
            "installed (apt-get install prometheus-alertmanager failed)"
        )
        return
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.split(
        "\n"
    )[0]
    args.out.mkdir(parents=True, exist_ok=True)
    # Every window on its own hub, and 10,000 more hubs for the AD1s outside windows.
    fleet = Fleet(max(args.windows) + 10_000)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="poagate-vs-am-") as scratch:
        work = Path(scratch)
        inventory, guid = fleet.write(work)
        for windows, am_alerts in zip(args.windows, args.am_alerts, strict=True):
            am_dir = work / f"am-{windows}"
            am_dir.mkdir()
            am = Alertmanager(binary, am_dir)
            try:
                now = datetime.now(UTC)
                started = time.perf_counter()
                asyncio.run(create_silences(am.url, fleet.hubs[:windows], now))
                silence_seconds = time.perf_counter() - started
                with PeakRss(am.process.pid) as am_peak:
                    am_result = alertmanager_run(am, fleet.alerts(windows, am_alerts), now)
            finally:
                am.stop()
            alerts = fleet.alerts(windows, args.alerts)
            replay_result = poagate_replay_run(work, inventory, guid, fleet, windows, alerts)
            http_result = poagate_http_run(work, inventory, guid, fleet, windows, alerts)
            am_rate = am_alerts / am_result["seconds"]
            row = {
                "windows": windows,
                "alertmanager": {
                    "alerts": am_alerts,
                    "alerts_per_second": round(am_rate, 1),
                    "seconds": round(am_result["seconds"], 2),
                    "silences_created_seconds": round(silence_seconds, 1),
                    "reads_until_right": am_result["reads"],
                    "peak_rss_mb": round(am_peak.tree_mb),
                    "correct": am_result["correct"],
                },
                "poagate_replay": poagate_figures(replay_result, args.alerts),
                "poagate_http": poagate_figures(http_result, args.alerts),
            }
            row["ratio_replay"] = round(row["poagate_replay"]["alerts_per_second"] / am_rate, 1)
            row["ratio_http"] = round(row["poagate_http"]["alerts_per_second"] / am_rate, 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
    results = {
        "machine": f"{platform.machine()}, {psutil.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "alertmanager": version,
        "date": datetime.now(UTC).date().isoformat(),
        "rows": rows,
        "targets": {"ratio_at_10000": ">= 100", "ratio_at_100000": ">= 1000"},
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"\n{'windows':>8} {'AM alerts/s':>12} {'(N)':>8} {'replay/s':>9} {'HTTP/s':>8} "
        f"{'× replay':>9} {'× HTTP':>8} {'AM MB':>6} {'replay MB':>9} {'HTTP MB':>8} correct"
    )
    for r in rows:
        am, rp, hp = r["alertmanager"], r["poagate_replay"], r["poagate_http"]
        print(
            f"{r['windows']:>8,} {am['alerts_per_second']:>12,} {am['alerts']:>8,} "
            f"{rp['alerts_per_second']:>9,} {hp['alerts_per_second']:>8,} "
            f"{r['ratio_replay']:>9,} {r['ratio_http']:>8,} {am['peak_rss_mb']:>6} "
            f"{rp['peak_rss_mb']:>9} {hp['peak_rss_mb']:>8} "
            f"{am['correct'] and rp['correct'] and hp['correct']}"
        )


if __name__ == "__main__":
    main()
