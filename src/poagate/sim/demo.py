"""``poagate demo``: a simulated week for a small fleet, through the real gate, summarised.

It generates about 20,000 ESMEs with their hubs across the 14 DNO areas and a week of DSP
traffic, writes them as the files ``poagate replay`` reads, replays them into a fresh SQLite
store, and writes the Suppression Log as one CSV per DNO.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from poagate.domain.outcomes import SuppressionEntry
from poagate.service.export import export_suppression_log
from poagate.service.replay import Progress, ReplayReport, ReplayRequest, replay
from poagate.sim.fleet import Fleet, FleetSpec, generate_fleet
from poagate.sim.month import write_replay_inputs
from poagate.sim.traffic import Cause, Traffic, TrafficSpec, generate_traffic
from poagate.store import StoreError
from poagate.store import database as store_database
from poagate.store.sqlite import SqliteStore

DEMO_MARKER = ("origin", "poagate demo")


@dataclass(slots=True)
class DemoResult:
    fleet: Fleet
    traffic: Traffic
    report: ReplayReport
    by_operator: dict[str, tuple[int, int]]
    log_files: list[Path]
    firmware_suppressed: int
    genuine_suppressed: int
    firmware_forwarded: int


def fresh_demo_database(path: Path) -> None:
    """Remove a database an earlier demo made; refuse to touch any other file."""
    if not path.exists():
        return
    try:
        with SqliteStore(path, readonly=True) as store:
            origin = store.meta(DEMO_MARKER[0])
    except StoreError:
        origin = None
    if origin != DEMO_MARKER[1]:
        raise StoreError(
            f"{path} exists and was not made by poagate demo; choose another file with --db"
        )
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def run_demo(
    db: Path,
    out: Path,
    fleet_spec: FleetSpec,
    traffic_spec: TrafficSpec,
    progress: Progress | None = None,
) -> DemoResult:
    if progress is not None:
        progress.phase("Generating fleet and a week of traffic", None)
    fleet = generate_fleet(fleet_spec)
    traffic = generate_traffic(fleet, traffic_spec)
    inputs = write_replay_inputs(fleet, traffic, out / "input")

    fresh_demo_database(db)
    with SqliteStore(db, schema="create") as store:
        store.set_meta(*DEMO_MARKER)
        report = replay(
            store,
            ReplayRequest(
                inventory=inputs.inventory,
                guid_list=inputs.guid_list,
                events=inputs.events,
                out=out / "replay",
            ),
            progress,
        )
        by_operator = store.listings.counts_by_network_operator()
        log_dir = out / "suppression-log"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_files = []
        for operator in sorted(o for o in by_operator if o):
            path = log_dir / f"dno-{operator}.csv"
            with path.open("w", newline="", encoding="utf-8") as stream:
                export_suppression_log(store, operator, "csv", stream)
            log_files.append(path)
        firmware_suppressed = genuine_suppressed = firmware_forwarded = 0
        for outcome in store.listings.ad1_outcomes():
            cause = traffic.truth.get(outcome.alert_id)
            suppressed = type(outcome) is SuppressionEntry
            if cause is Cause.FIRMWARE:
                if suppressed:
                    firmware_suppressed += 1
                else:
                    firmware_forwarded += 1
            elif cause is Cause.GENUINE and suppressed:
                genuine_suppressed += 1
    return DemoResult(
        fleet,
        traffic,
        report,
        by_operator,
        log_files,
        firmware_suppressed,
        genuine_suppressed,
        firmware_forwarded,
    )


def default_database() -> Path:
    """The SQLite file the demo fills: ``$POAGATE_DATABASE`` if it names one, else
    ``poagate.db`` here. The demo never writes into a PostgreSQL database."""
    database = store_database.default_database()
    if store_database.is_postgres(database):
        raise StoreError(
            "POAGATE_DATABASE names a PostgreSQL database; the demo fills a SQLite file: "
            "give one with --db"
        )
    return store_database.sqlite_path(database)
