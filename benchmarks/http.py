"""The HTTP API under load: single DUIS messages and JSON Lines batches, SQLite and PostgreSQL,
one and two server processes.

    .venv/bin/python benchmarks/http.py [--seconds 15] [--esmes 20000]

Load comes from wrk (Debian package ``wrk``, installed when missing) on the same machine, with
a Lua script that gives every AD1 its own alert_id and a random hub of the fleet, so that each
request is a new decision, durable before it is answered:

* single messages: one DUIS AD1 per POST from 32 connections; requests/s and p50/p99 latency;
* batches: 1,000 JSON AD1 lines per POST from 4 connections; AD1s/s.

Each backend runs with one and two server processes with the spec §9 guards off, then with two
processes and both guards on (release-if-dark 60 minutes; area-outage 3 AD1s in 900 s). With
AD1s from random hubs at this rate every postcode sector is in an "outage", so the guarded runs
are the guards' worst case: each group reads its sectors' last half hour of AD1s.

PostgreSQL is a private server started from Debian's binaries with fsync on, as in production.
Prints a table and writes bench-output/http/results.json. Not part of the tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and its name (http.py, as the
# issue asks) would shadow the standard library's http package: take the folder off first.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import wait_until_ready
from tests.pg import PostgresServer, free_port

from poagate.domain.reference import Config
from poagate.formats.reference.inventory import write_inventory
from poagate.service.access import new_token, token_sha256
from poagate.service.reference.loads import load_guid_list, load_inventory
from poagate.sim.fleet import FleetSpec, generate_fleet
from poagate.store.database import open_store

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
    def __init__(self, database: str, workers: int) -> None:
        self.port = free_port()
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
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        if not wait_until_ready(self.url, self.process):
            self.stop()
            raise SystemExit("the server did not start")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=60)


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


def run_wrk(
    wrk: str, script: str, url: str, connections: int, seconds: int, threads: int = 2
) -> dict[str, float]:
    path = Path(f"/tmp/poagate-bench-{os.getpid()}.lua")
    path.write_text(script)
    result = subprocess.run(
        [
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(path),
            f"{url}/v1/messages",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    path.unlink()
    out = result.stdout

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--esmes", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-output" / "http")
    args = parser.parse_args()
    wrk = ensure_wrk()
    args.out.mkdir(parents=True, exist_ok=True)
    run = f"R{int(time.time())}"
    rows: list[dict[str, Any]] = []
    postgres = PostgresServer(durable=True)
    postgres.start()
    try:
        runs = [(b, w, False) for b in ("sqlite", "postgres") for w in (1, 2)]
        runs += [("sqlite", 2, True), ("postgres", 2, True)]
        for backend, workers, guarded in runs:
            if backend == "sqlite":
                db_file = args.out / f"sqlite-{workers}{'-guards' if guarded else ''}.db"
                for suffix in ("", "-wal", "-shm", ".lock"):
                    Path(f"{db_file}{suffix}").unlink(missing_ok=True)
                database = f"sqlite:///{db_file}"
            else:
                database = postgres.fresh_database()
            token, hubs = prepare(database, args.out, args.esmes, guarded)
            server = Server(database, workers)
            try:
                fleet = generate_fleet(FleetSpec(esmes=args.esmes, seed=11))
                activate(server.url, token, [s.esme_id for s in fleet.sites], 0.2)
                lua_hubs = ",".join(f'"{h}"' for h in hubs)
                tag = f"{run}-{backend}{workers}{'g' if guarded else ''}"
                values = {"token": token, "hubs": lua_hubs, "run": tag}
                single = run_wrk(wrk, SINGLE_LUA % values, server.url, 32, args.seconds)
                values["run"] += "l"
                light = run_wrk(wrk, SINGLE_LUA % values, server.url, 8, args.seconds)
                values["run"] += "b"
                # One load thread: building 1,000-line bodies in Lua takes CPU from the server.
                batch = run_wrk(wrk, BATCH_LUA % values, server.url, 4, args.seconds, 1)
            finally:
                server.stop()
            with open_store(database, "read") as store:
                counts = store.counts()
            row = {
                "backend": backend,
                "workers": workers,
                "guards": "both" if guarded else "off",
                "single_per_second": round(single["requests_per_second"]),
                "single_p50_ms": round(single["p50_ms"], 1),
                "single_p99_ms": round(single["p99_ms"], 1),
                "single_8_per_second": round(light["requests_per_second"]),
                "single_8_p50_ms": round(light["p50_ms"], 1),
                "single_8_p99_ms": round(light["p99_ms"], 1),
                "batch_ad1_per_second": round(batch["requests_per_second"] * 1000),
                "batch_p50_ms": round(batch["p50_ms"], 1),
                "errors": single["non_2xx"]
                + batch["non_2xx"]
                + single["timeouts"]
                + batch["timeouts"],
                "ad1_decided": counts["ad1_suppressed"] + counts["ad1_forwarded"],
                "ad1_suppressed": counts["ad1_suppressed"],
                "ad1_released": counts["ad1_released"],
            }
            rows.append(row)
            print(row, flush=True)
    finally:
        postgres.stop()
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "date": datetime.now(UTC).date().isoformat(),
        "rows": rows,
        "targets": {
            "single_per_second": ">= 2,000 with p99 < 25 ms",
            "batch_ad1_per_second": ">= 50,000",
        },
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"\n{'backend':9} {'workers':>7} {'guards':>6} {'single/s':>9} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'batch AD1/s':>12} {'errors':>6}"
    )
    for r in rows:
        print(
            f"{r['backend']:9} {r['workers']:>7} {r['guards']:>6} {r['single_per_second']:>9,} "
            f"{r['single_p50_ms']:>7} {r['single_p99_ms']:>7} {r['batch_ad1_per_second']:>12,} "
            f"{r['errors']:>6}"
        )


if __name__ == "__main__":
    main()
