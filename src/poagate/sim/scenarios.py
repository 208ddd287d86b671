"""Simulated months through the real pipeline, measured against ground truth.

Each scenario is a fleet and a month of traffic (``poagate.sim``). ``run`` writes them as the
files ``poagate replay`` reads, replays them with the real ``replay`` into a fresh SQLite store
under a given guard setting, and compares every decided AD1 with what really caused it:

* spurious AD1s (firmware reboots): how many were suppressed and stayed suppressed — the site
  visits avoided, at £80 each;
* AD1s that must reach the DNO (genuine, storm, bricked meters): how many were hidden
  (suppressed and never released), and for those released late, by how many minutes;
* AD1s forwarded per DNO, and the Suppression Log's size.

The guards' clock runs on to the end of the month plus a day, so that nothing is left pending.
With the spec §14 verification guard on, the DSP's answers to its requests are made for the
setting (``poagate.sim.answers``) and replayed with the month.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

from poagate.domain.reference import (
    DEFAULT_AREA_OUTAGE_SECONDS,
    DEFAULT_VERIFY_ATTEMPTS,
    DEFAULT_VERIFY_TIMEOUT_MINUTES,
    Config,
)
from poagate.domain.verification import VerificationPlan
from poagate.formats.config_file import GUARD_KEYS
from poagate.service.replay import Progress, ReplayRequest, replay
from poagate.sim.answers import verification_answers
from poagate.sim.fleet import FleetSpec, generate_fleet
from poagate.sim.measures import (
    GUARD_TABLE_COLUMNS,
    Measures,
    guard_table_rows,
    guard_tables_markdown,
    measure,
)
from poagate.sim.month import write_replay_inputs
from poagate.sim.traffic import Cause, Traffic, TrafficSpec, generate_traffic

__all__ = [
    "GUARD_TABLE_COLUMNS",
    "GuardSetting",
    "Measures",
    "Month",
    "Scenario",
    "guard_table_rows",
    "guard_tables_markdown",
    "measure",
    "prepare",
    "run",
    "run_all",
    "scenarios",
]
from poagate.store.sqlite import SqliteStore


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: str
    fleet: FleetSpec
    traffic: TrafficSpec


@dataclass(frozen=True, slots=True)
class GuardSetting:
    name: str
    release_after_minutes: int | None = None
    area_outage_threshold: int | None = None
    area_outage_seconds: int = DEFAULT_AREA_OUTAGE_SECONDS
    verify_after_minutes: int | None = None
    verify_timeout_minutes: int = DEFAULT_VERIFY_TIMEOUT_MINUTES
    verify_attempts: int = DEFAULT_VERIFY_ATTEMPTS

    @property
    def verification(self) -> VerificationPlan | None:
        return VerificationPlan.of(
            Config(
                verify_after_minutes=self.verify_after_minutes,
                verify_timeout_minutes=self.verify_timeout_minutes,
                verify_attempts=self.verify_attempts,
            )
        )


# The recommended configuration (docs/guards.md, "Recommended configuration"): the
# verification guard alone, V = 10, T = 4, A = 2, chosen from `poagate simulate --sweep`.
RECOMMENDED = GuardSetting(
    "recommended",
    verify_after_minutes=10,
    verify_timeout_minutes=DEFAULT_VERIFY_TIMEOUT_MINUTES,
    verify_attempts=DEFAULT_VERIFY_ATTEMPTS,
)


def scenarios(esmes: int = 20_000, seed: int = 1) -> dict[str, Scenario]:
    """The three months the business case and the guard tables are built on.

    Scaled to ``esmes``: 20,000 ESMEs get 8,000 firmware activations and 1,500 genuine
    single-site outages a month."""
    scale = esmes / 20_000
    fleet = FleetSpec(esmes=esmes, seed=seed)
    month = TrafficSpec(
        days=30,
        activations=round(8_000 * scale),
        genuine_ad1=round(1_500 * scale),
        duis_share=0.05,
        seed=seed,
    )
    return {
        "normal": Scenario(
            "normal", "A normal month: campaigns by day and night, background outages", fleet, month
        ),
        "storm": Scenario(
            "storm",
            "A storm takes districts off supply for hours during a large future-dated campaign",
            fleet,
            TrafficSpec(
                **{
                    **asdict(month),
                    "campaign_activations": round(6_000 * scale),
                    "campaign_day": 10,
                    "storm_sites": round(2_500 * scale),
                    "storm_day": 10,
                    "storm_start_hour": 1.5,
                }
            ),
        ),
        "bricking": Scenario(
            "bricking",
            "A firmware release bricks 3% of the Landis+Gyr meters it activates",
            fleet,
            TrafficSpec(**{**asdict(month), "brick_share": 0.03}),
        ),
    }


GUARD_SETTING_NAMES = GUARD_KEYS


def guard_setting_list(
    release_after_minutes: int = 60,
    area_outage_threshold: int = 3,
    area_outage_seconds: int = DEFAULT_AREA_OUTAGE_SECONDS,
    verify_after_minutes: int = 10,
    verify_timeout_minutes: int = DEFAULT_VERIFY_TIMEOUT_MINUTES,
    verify_attempts: int = DEFAULT_VERIFY_ATTEMPTS,
) -> list[GuardSetting]:
    """Guards off, the spec §9 guards each on alone and both on, the spec §14 verification
    guard, and the recommended configuration."""
    return [
        GuardSetting("off"),
        GuardSetting("release-if-dark", release_after_minutes=release_after_minutes),
        GuardSetting(
            "area-outage",
            area_outage_threshold=area_outage_threshold,
            area_outage_seconds=area_outage_seconds,
        ),
        GuardSetting(
            "both",
            release_after_minutes=release_after_minutes,
            area_outage_threshold=area_outage_threshold,
            area_outage_seconds=area_outage_seconds,
        ),
        GuardSetting(
            "verification",
            verify_after_minutes=verify_after_minutes,
            verify_timeout_minutes=verify_timeout_minutes,
            verify_attempts=verify_attempts,
        ),
        RECOMMENDED,
    ]


@dataclass(slots=True)
class Month:
    """A scenario's month written as replay input, with its ground truth."""

    scenario: Scenario
    inventory: Path
    guid_list: Path
    events: list[Path]
    truth: dict[str, Cause]
    counts: dict[str, int]
    traffic: Traffic  # its AD1s and when each site had power, to answer verifications

    def answers(self, setting: GuardSetting, root: Path) -> list[Path]:
        """The DSP's answers to the verification requests ``setting`` makes, as a file to
        replay with the month (none with the guard off)."""
        plan = setting.verification
        if plan is None:
            return []
        spec = self.scenario.traffic
        path = root / f"answers-{setting.name}.jsonl"
        with path.open("wb") as f:
            f.writelines(
                verification_answers(
                    self.traffic.raised,
                    self.traffic.power,
                    plan,
                    spec.verification_loss,
                    spec.seed,
                    spec.duis_share,
                )
            )
        return [path]


def prepare(scenario: Scenario, root: Path) -> Month:
    """Generate the scenario's fleet and month and write them as ``poagate replay`` input."""
    fleet = generate_fleet(scenario.fleet)
    traffic = generate_traffic(fleet, scenario.traffic)
    inputs = write_replay_inputs(fleet, traffic, root / "input")
    traffic.requests, traffic.alerts = [], []  # written; the rest is kept
    return Month(
        scenario,
        inputs.inventory,
        inputs.guid_list,
        inputs.events,
        traffic.truth,
        traffic.counts,
        traffic,
    )


def run(
    month: Month, setting: GuardSetting, root: Path, progress: Progress | None = None
) -> Measures:
    """Replay ``month`` with ``setting`` into a fresh store and measure the outcome."""
    scenario = month.scenario
    out = root / f"replay-{setting.name}"
    database = root / f"{setting.name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    horizon = scenario.traffic.start + timedelta(days=scenario.traffic.days + 1)
    with SqliteStore(database, schema="create") as store:
        report = replay(
            store,
            ReplayRequest(
                inventory=month.inventory,
                guid_list=month.guid_list,
                events=[*month.events, *month.answers(setting, root)],
                out=out,
                # 0 switches a guard off, whatever a configuration says.
                release_after_minutes=setting.release_after_minutes or 0,
                area_outage_threshold=setting.area_outage_threshold or 0,
                area_outage_seconds=setting.area_outage_seconds,
                verify_after_minutes=setting.verify_after_minutes or 0,
                verify_timeout_minutes=setting.verify_timeout_minutes,
                verify_attempts=setting.verify_attempts,
                release_until=horizon,
            ),
            progress,
        )
        measures = measure(scenario.name, setting.name, store.listings.ad1_outcomes(), month.truth)
        measures.verifications = store.verifications.counts()
    measures.events = int(report.summary["events_read"])
    measures.seconds = float(report.summary["run"]["seconds"])
    measures.suppression_log_bytes = (out / "suppression_log.jsonl").stat().st_size
    return measures


def run_all(
    chosen: Iterable[Scenario],
    settings: list[GuardSetting],
    workdir: Path,
    progress: Progress | None = None,
    done: Callable[[Measures], None] | None = None,
) -> list[Measures]:
    """Every scenario under every setting: each month generated once, replayed per setting."""
    results = []
    for scenario in chosen:
        month = prepare(scenario, workdir / scenario.name)
        baseline: int | None = None
        for setting in settings:
            measures = run(month, setting, workdir / scenario.name, progress)
            if setting.name == "off":
                baseline = measures.spurious_suppressed
            measures.mp102b_suppressed = baseline
            results.append(measures)
            if done is not None:
                done(measures)
    return results
