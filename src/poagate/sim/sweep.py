"""The verification guard over a range of V, T and A: savings kept against the worst delay.

Each scenario's month is generated once and replayed with the guard at each (V, T, A) of the
grid, the DSP's answers made for that setting (``poagate.sim.answers``). A point of the chart
is one setting: the worst delay of a genuine AD1 over the scenarios, against the smallest share
of MP102B's suppressions kept. ``poagate simulate --sweep`` draws it for docs/guards.md.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no screen: render to files
import matplotlib.pyplot as plt

from poagate.sim.scenarios import GuardSetting, Measures, Scenario, prepare, run

AFTER_MINUTES = (4, 6, 8, 10, 12, 15)
TIMEOUT_MINUTES = (2, 4, 6)
ATTEMPTS = (1, 2, 3)


@dataclass(frozen=True, slots=True)
class SweepPoint:
    after: int  # V
    timeout: int  # T
    attempts: int  # A
    savings_kept: float  # the smallest share over the scenarios
    worst_delay_minutes: float  # the largest over the scenarios (0 when nothing was released)
    hidden: int  # genuine AD1s hidden, over the scenarios

    @property
    def label(self) -> str:
        return f"V={self.after} T={self.timeout} A={self.attempts}"


def sweep(
    chosen: Iterable[Scenario],
    workdir: Path,
    grid: Iterable[tuple[int, int, int]] | None = None,
    done: Callable[[str], None] | None = None,
) -> list[SweepPoint]:
    """Every (V, T, A) of ``grid`` (by default the product of the ranges above) on every
    scenario."""
    settings = [
        GuardSetting(
            f"verify-{v}-{t}-{a}",
            verify_after_minutes=v,
            verify_timeout_minutes=t,
            verify_attempts=a,
        )
        for v, t, a in (grid or itertools.product(AFTER_MINUTES, TIMEOUT_MINUTES, ATTEMPTS))
    ]
    by_setting: dict[str, list[Measures]] = {s.name: [] for s in settings}
    for scenario in chosen:
        root = workdir / scenario.name
        month = prepare(scenario, root)
        off = run(month, GuardSetting("off"), root)
        for setting in settings:
            measures = run(month, setting, root)
            measures.mp102b_suppressed = off.spurious_suppressed
            by_setting[setting.name].append(measures)
            if done is not None:
                done(f"{scenario.name}: {setting.name}")
    points = []
    for setting in settings:
        results = by_setting[setting.name]
        assert setting.verify_after_minutes is not None
        points.append(
            SweepPoint(
                setting.verify_after_minutes,
                setting.verify_timeout_minutes,
                setting.verify_attempts,
                min((m.savings_kept or 0.0) for m in results),
                max((m.delay_worst_minutes or 0.0) for m in results),
                sum(m.must_reach_hidden for m in results),
            )
        )
    return points


def sweep_markdown(points: list[SweepPoint]) -> str:
    lines = [
        "| V | T | A | savings kept (smallest) | worst delay (min) | genuine hidden |",
        "|---|---|---|---|---|---|",
    ]
    for p in points:
        lines.append(
            f"| {p.after} | {p.timeout} | {p.attempts} | {p.savings_kept:.2%} | "
            f"{p.worst_delay_minutes:g} | {p.hidden} |"
        )
    return "\n".join(lines) + "\n"


def sweep_records(points: list[SweepPoint]) -> list[dict[str, Any]]:
    return [asdict(p) for p in points]


def draw_sweep(
    points: list[SweepPoint], path: Path, recommended: tuple[int, int, int] | None = None
) -> None:
    """The chart: savings kept against worst delay, a marker per setting, by A (settings that
    hide a genuine AD1 hollow); on the left every setting, on the right those keeping 97% or
    more, labelled V/T, with ``recommended`` (V, T, A) ringed."""
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 5.0))
    fig.suptitle("Verification guard: savings kept against the worst delay (every scenario)")
    markers = {1: "o", 2: "s", 3: "^"}
    for ax, zoom in zip(axes, (False, True), strict=True):
        ax.set_xlabel("worst delay of a genuine AD1 to its DNO (minutes)")
        ax.set_ylabel("MP102B's suppressions kept (%, smallest over the scenarios)")
        ax.grid(alpha=0.3)
        ax.axvline(20, color="grey", linestyle="--", linewidth=1)
        ax.axhline(99, color="grey", linestyle="--", linewidth=1)
        shown = [p for p in points if not zoom or p.savings_kept >= 0.97]
        for attempts in sorted({p.attempts for p in shown}):
            for hidden in (False, True):
                chosen = [p for p in shown if p.attempts == attempts and (p.hidden > 0) is hidden]
                if not chosen:
                    continue
                ax.scatter(
                    [p.worst_delay_minutes for p in chosen],
                    [p.savings_kept * 100 for p in chosen],
                    marker=markers.get(attempts, "D"),
                    facecolors="none" if hidden else f"C{attempts}",
                    edgecolors=f"C{attempts}",
                    label=f"A = {attempts}" + (" (hides a genuine AD1)" if hidden else ""),
                )
        for p in shown:
            if (p.after, p.timeout, p.attempts) == recommended:
                ax.scatter(
                    [p.worst_delay_minutes],
                    [p.savings_kept * 100],
                    s=220,
                    facecolors="none",
                    edgecolors="black",
                    label="recommended",
                )
            if zoom:
                ax.annotate(
                    f"{p.after}/{p.timeout}",
                    (p.worst_delay_minutes, p.savings_kept * 100),
                    fontsize=7,
                    xytext=(4, 2),
                    textcoords="offset points",
                )
        ax.set_title("settings keeping 97% or more (labels: V/T)" if zoom else "every setting")
        ax.legend(fontsize=8, loc="lower right")
    fig.savefig(path, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
