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
With the SPEC §14 verification guard on, the DSP's answers to its requests are made for the
setting (``poagate.sim.answers``) and replayed with the month.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from poagate.domain.outcomes import SuppressionEntry
from poagate.domain.reference import (
    DEFAULT_AREA_OUTAGE_SECONDS,
    DEFAULT_VERIFY_ATTEMPTS,
    DEFAULT_VERIFY_TIMEOUT_MINUTES,
    Config,
)
from poagate.domain.verification import VerificationPlan
from poagate.service.replay import Progress, ReplayRequest, replay
from poagate.sim.answers import verification_answers
from poagate.sim.fleet import FleetSpec, generate_fleet
from poagate.sim.inputs import write_replay_inputs
from poagate.sim.seed import SITE_VISIT_GBP
from poagate.sim.traffic import Cause, Traffic, TrafficSpec, generate_traffic
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


GUARD_SETTING_NAMES = (
    "release_after_minutes",
    "area_outage_threshold",
    "area_outage_seconds",
    "verify_after_minutes",
    "verify_timeout_minutes",
    "verify_attempts",
)


def guard_setting_list(
    release_after_minutes: int = 60,
    area_outage_threshold: int = 3,
    area_outage_seconds: int = DEFAULT_AREA_OUTAGE_SECONDS,
    verify_after_minutes: int = 10,
    verify_timeout_minutes: int = DEFAULT_VERIFY_TIMEOUT_MINUTES,
    verify_attempts: int = DEFAULT_VERIFY_ATTEMPTS,
) -> list[GuardSetting]:
    """Guards off, the SPEC §9 guards each on alone and both on, the SPEC §14 verification
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
class Measures:
    scenario: str
    guards: str
    ad1_alerts: int = 0  # distinct AD1s decided
    spurious: int = 0
    spurious_suppressed: int = 0  # and never released
    spurious_released: int = 0
    must_reach: int = 0  # genuine, storm and bricked
    must_reach_hidden: int = 0  # suppressed and never released
    must_reach_released: int = 0  # reached the DNO late
    delay_median_minutes: float | None = None  # of those released late
    delay_worst_minutes: float | None = None
    by_cause: dict[str, dict[str, int]] = field(default_factory=dict)
    forwarded_by_dno: dict[str, int] = field(default_factory=dict)
    suppression_log_entries: int = 0
    suppression_log_bytes: int = 0
    # Spurious AD1s suppressed with every guard off (MP102B alone), once known (``run_all``).
    mp102b_suppressed: int | None = None
    verifications: dict[str, int] = field(default_factory=dict)
    events: int = 0
    seconds: float = 0.0

    @property
    def spurious_suppressed_share(self) -> float:
        return self.spurious_suppressed / self.spurious if self.spurious else 0.0

    @property
    def savings_kept(self) -> float | None:
        """The share of MP102B's own suppressions of spurious AD1s that stay suppressed."""
        if not self.mp102b_suppressed:
            return None
        return self.spurious_suppressed / self.mp102b_suppressed

    @property
    def hidden_share(self) -> float:
        return self.must_reach_hidden / self.must_reach if self.must_reach else 0.0

    @property
    def visits_avoided_gbp(self) -> int:
        return self.spurious_suppressed * SITE_VISIT_GBP

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["spurious_suppressed_share"] = round(self.spurious_suppressed_share, 4)
        data["hidden_share"] = round(self.hidden_share, 4)
        data["visits_avoided_gbp"] = self.visits_avoided_gbp
        kept = self.savings_kept
        data["savings_kept"] = None if kept is None else round(kept, 4)
        return data


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
    with SqliteStore(database) as store:
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
        measures = measure(scenario.name, setting.name, store.reads.ad1_outcomes(), month.truth)
        measures.verifications = store.verifications.counts()
    measures.events = int(report.summary["events_read"])
    measures.seconds = float(report.summary["run"]["seconds"])
    measures.suppression_log_bytes = (out / "suppression_log.jsonl").stat().st_size
    return measures


def measure(
    scenario: str,
    guards: str,
    outcomes: Iterable[Any],
    truth: dict[str, Cause],
) -> Measures:
    m = Measures(scenario, guards)
    delays: list[float] = []
    for outcome in outcomes:
        cause = truth.get(outcome.alert_id)
        if cause is None:
            continue  # not an alert the simulation raised (none are, but never guess)
        m.ad1_alerts += 1
        tally = m.by_cause.setdefault(
            cause.value, {"alerts": 0, "suppressed": 0, "released": 0, "forwarded": 0}
        )
        tally["alerts"] += 1
        suppressed = type(outcome) is SuppressionEntry
        released = suppressed and outcome.released_at is not None
        if suppressed:
            m.suppression_log_entries += 1
        if suppressed and not released:
            tally["suppressed"] += 1
        elif released:
            tally["released"] += 1
        else:
            tally["forwarded"] += 1
        if not suppressed or released:
            operator = outcome.network_operator or "unknown"
            m.forwarded_by_dno[operator] = m.forwarded_by_dno.get(operator, 0) + 1
        if cause.spurious:
            m.spurious += 1
            m.spurious_suppressed += suppressed and not released
            m.spurious_released += released
        else:
            m.must_reach += 1
            m.must_reach_hidden += suppressed and not released
            if released:
                m.must_reach_released += 1
                delays.append((outcome.released_at - outcome.received_at).total_seconds() / 60)
    if delays:
        m.delay_median_minutes = round(statistics.median(delays), 1)
        m.delay_worst_minutes = round(max(delays), 1)
    m.forwarded_by_dno = dict(sorted(m.forwarded_by_dno.items()))
    return m


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


GUARD_TABLE_COLUMNS = (
    "guards",
    "spurious AD1s suppressed",
    "of MP102B's kept",
    "genuine AD1s hidden",
    "genuine AD1s released late",
    "median / worst delay (min)",
    "visits avoided",
)


def guard_table_rows(results: Iterable[Measures]) -> list[tuple[str, ...]]:
    """One row per guard setting: the figures of the guard tables in the docs."""
    rows: list[tuple[str, ...]] = []
    for m in results:
        delay = (
            "—"
            if m.delay_median_minutes is None
            else f"{m.delay_median_minutes:g} / {m.delay_worst_minutes:g}"
        )
        rows.append(
            (
                m.guards,
                f"{m.spurious_suppressed:,} of {m.spurious:,} ({m.spurious_suppressed_share:.1%})",
                "—" if m.savings_kept is None else f"{m.savings_kept:.2%}",
                f"{m.must_reach_hidden:,} of {m.must_reach:,} ({m.hidden_share:.2%})",
                f"{m.must_reach_released:,}",
                delay,
                f"£{m.visits_avoided_gbp:,}",
            )
        )
    return rows


def guard_tables_markdown(results: list[Measures], titles: dict[str, str]) -> str:
    """The guard tables, one per scenario, as Markdown."""
    parts = []
    for name in dict.fromkeys(m.scenario for m in results):
        parts.append(f"### {titles.get(name, name)}\n")
        parts.append("| " + " | ".join(GUARD_TABLE_COLUMNS) + " |")
        parts.append("|" + "---|" * len(GUARD_TABLE_COLUMNS))
        for row in guard_table_rows(m for m in results if m.scenario == name):
            parts.append("| " + " | ".join(row) + " |")
        parts.append("")
    return "\n".join(parts)
