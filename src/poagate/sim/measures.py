"""What a simulated month's outcomes come to, measured against its ground truth: spurious AD1s
suppressed and kept so, AD1s that must reach their DNO hidden or released late and by how much,
per cause and per DNO; and the guard tables of docs/guards.md.

What a site visit and the service cost are the working group's figures (SEC MP102B, July 2022,
from the MP122A May 2022 report), in one place: the demo, the simulator and the business case
all price a site visit the same."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from poagate.domain.outcomes import SuppressionEntry
from poagate.sim.month import Cause

AD1_PER_MONTH = 17_113  # firmware-caused AD1s a month
SITE_VISIT_GBP = 80  # what a DNO site visit costs
ONE_OFF_GBP = 197_524  # the DCC's implementation cost
SUPPORT_PER_MONTH_GBP = 1_722  # the DCC's application support


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
