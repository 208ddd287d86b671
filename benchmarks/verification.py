"""The verification guard's pass (spec §14) when a whole campaign's AD1s are under way at once.

    .venv/bin/python benchmarks/verification.py [--ad1 10000] [--database sqlite:///x.db]

A campaign activates ``--ad1`` meters in the same minute and each raises an AD1, all suppressed
and all verified together: the worst case of the pass, which reads every unsettled entry of the
last V + A·T minutes and their hubs' signs of life in one transaction. Half the sites answer.
The benchmark times one pass at each step — every first request sent, half answered and the
rest expired into their second attempt, the silent half released — and prints the seconds and
what each pass did. Writes bench-output/verification/results.json. Not part of the tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder holds http.py, which would shadow the standard library's http package that httpx
# needs: search it last.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

import argparse
import json
import platform
import sys
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from poagate.domain.events import Activation, Ad1Alert, DeviceMessage
from poagate.formats.reference.inventory import write_inventory
from poagate.formats.timestamps import parse_timestamp
from poagate.service.ingest import Ingestor, Item
from poagate.service.reference.loads import load_guid_list, load_inventory
from poagate.service.verifications import arm_verification, verify
from poagate.sim.fleet import FleetSpec, generate_fleet
from poagate.store.database import open_store

USER = "90-B3-D5-1F-30-01-00-00"
START = parse_timestamp("2026-03-01T02:00:00Z", "start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ad1", type=int, default=10_000, help="AD1s under way at once")
    parser.add_argument("--database", help="a store URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="poagate-verification-"))
    database = args.database or f"sqlite:///{workdir / 'bench.db'}"
    fleet = generate_fleet(FleetSpec(esmes=args.ad1 * 3, landis_gyr_share=1.0, smets1_share=0.0))
    sites = [s for s in fleet.sites if s.qualifies][: args.ad1]
    with open_store(database, "service", schema="create") as store:
        inventory = workdir / "fleet.csv"
        with inventory.open("w", encoding="utf-8", newline="") as out:
            write_inventory(fleet.devices(), out)
        guid = workdir / "guid.txt"
        guid.write_text("".join(f"{s.esme_id}\n" for s in sites), encoding="utf-8")
        load_inventory(store, inventory, START)
        load_guid_list(store, guid, START)
        config = replace(
            store.reference.config(),
            verify_after_minutes=10,
            verify_timeout_minutes=4,
            verify_attempts=2,
        )
        store.reference.save_config(config, "bench", START)
        arm_verification(store)
    clock = [START]
    ingestor = Ingestor(lambda: open_store(database, "service"), lambda: clock[0])

    def decide(events: list[Any]) -> None:
        for first in range(0, len(events), 2_000):
            group = events[first : first + 2_000]
            ingestor.decide_now("bench", [Item(n + 1, e) for n, e in enumerate(group)])

    decide(
        [Activation(f"{USER}:{s.esme_id}:{n}", USER, s.esme_id, START) for n, s in enumerate(sites)]
    )
    outage = START + timedelta(minutes=1)
    clock[0] = outage + timedelta(minutes=3)
    decide([Ad1Alert(f"A{n}", s.chf_id, clock[0], outage) for n, s in enumerate(sites)])

    results: list[dict[str, Any]] = []
    with open_store(database, "service") as store:

        def timed(step: str, minutes: float) -> None:
            now = outage + timedelta(minutes=minutes)
            started = time.perf_counter()
            done = verify(store, now)
            seconds = time.perf_counter() - started
            result = {
                "step": step,
                "seconds": round(seconds, 3),
                "requested": len(done.requested),
                "answered": done.answered,
                "expired": done.expired,
                "released": len(done.released),
            }
            results.append(result)
            print(json.dumps(result))

        timed("first requests", 10.1)
        timed("a pass with nothing to do", 10.2)
        clock[0] = outage + timedelta(minutes=12)
        decide([DeviceMessage(s.esme_id, clock[0]) for s in sites[::2]])  # half answer
        timed("half answered", 12.1)
        timed("second attempts", 14.1)
        timed("releases", 18.6)
    report = {
        "ad1": args.ad1,
        "database": database.split(":", 1)[0],
        "machine": platform.platform(),
        "passes": results,
    }
    folder = ROOT / "bench-output" / "verification"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
