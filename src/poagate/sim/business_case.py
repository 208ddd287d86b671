"""``poagate report business-case``: the seed's monthly figure, how it moves, and its payback.

The working group's figure (MP102B, July 2022, from the MP122A May 2022 report): 17,113 AD1s a
month caused by firmware activations, at £80 a site visit, £1,369,040 a month. Against it, the
DCC's implementation cost of £197,524 once and application support of £1,722 a month.

The number of firmware-caused AD1s is taken as proportional to the size of the month's firmware
campaigns and to the share of activations whose reboot cuts the hub's power for more than three
minutes; the seed's figure is the point (campaign size 1×, reboot share ``BASE_REBOOT_SHARE``).
A simulation (``poagate simulate``) can add what the guards cost: the share of the suppressed
spurious AD1s each guard setting keeps suppressed in the simulated normal month.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import matplotlib

matplotlib.use("Agg")  # no screen: render to files
import matplotlib.pyplot as plt

from poagate.sim.measures import AD1_PER_MONTH, ONE_OFF_GBP, SITE_VISIT_GBP, SUPPORT_PER_MONTH_GBP

BASE_REBOOT_SHARE = 0.6  # the simulator's share of L+G activations that cut the hub > 3 min
DAYS_PER_MONTH = 365.25 / 12
CAMPAIGN_FACTORS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
REBOOT_SHARES = (0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True, slots=True)
class Inputs:
    ad1_per_month: int = AD1_PER_MONTH
    site_visit_gbp: int = SITE_VISIT_GBP
    one_off_gbp: int = ONE_OFF_GBP
    support_per_month_gbp: int = SUPPORT_PER_MONTH_GBP
    base_reboot_share: float = BASE_REBOOT_SHARE


@dataclass(frozen=True, slots=True)
class Case:
    """The business case at one point: a campaign size and a reboot share."""

    campaign_factor: float
    reboot_share: float
    ad1_per_month: float
    saving_per_month_gbp: float  # site visits avoided
    net_per_month_gbp: float  # less application support
    payback_days: float | None  # None: it never pays back

    @property
    def payback_months(self) -> float | None:
        return None if self.payback_days is None else self.payback_days / DAYS_PER_MONTH


def case(inputs: Inputs, campaign_factor: float = 1.0, reboot_share: float | None = None) -> Case:
    share = inputs.base_reboot_share if reboot_share is None else reboot_share
    ad1 = inputs.ad1_per_month * campaign_factor * share / inputs.base_reboot_share
    saving = ad1 * inputs.site_visit_gbp
    net = saving - inputs.support_per_month_gbp
    payback = inputs.one_off_gbp / net * DAYS_PER_MONTH if net > 0 else None
    return Case(campaign_factor, share, ad1, saving, net, payback)


def guard_retention(simulation: dict[str, Any], scenario: str = "normal") -> dict[str, float]:
    """Per guard setting, the share of the spurious AD1s suppressed with guards off that stay
    suppressed (from ``simulation.json``)."""
    results = [r for r in simulation["results"] if r["scenario"] == scenario]
    off = next((r for r in results if r["guards"] == "off"), None)
    if off is None or not off["spurious_suppressed"]:
        return {}
    return {r["guards"]: r["spurious_suppressed"] / off["spurious_suppressed"] for r in results}


def _png(figure: Any, path: Path) -> str:
    """Save ``figure`` to ``path`` and return it base64-encoded for the HTML report."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    data = buffer.getvalue()
    path.write_bytes(data)
    return base64.b64encode(data).decode()


def _chart(title: str, xlabel: str, ylabel: str) -> tuple[Any, Any]:
    """A figure with one set of axes, titled, labelled and gridded."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    return fig, ax


def charts(inputs: Inputs, out: Path) -> dict[str, str]:
    """The report's charts as PNG files in ``out``; returns them base64-encoded by name."""
    images: dict[str, str] = {}
    base = case(inputs)
    fig, ax = _chart(
        "Monthly saving by campaign size and reboot share",
        "campaign size (× the May 2022 month)",
        "site visits avoided, £ million a month",
    )
    for share in REBOOT_SHARES:
        ys = [case(inputs, f, share).saving_per_month_gbp / 1e6 for f in CAMPAIGN_FACTORS]
        ax.plot(CAMPAIGN_FACTORS, ys, marker="o", label=f"reboot share {share:.0%}")
    ax.scatter([1.0], [base.saving_per_month_gbp / 1e6], s=120, facecolors="none",
               edgecolors="black", zorder=5,
               label=f"the seed's £{base.saving_per_month_gbp:,.0f}")  # fmt: skip
    ax.legend(fontsize=8)
    images["saving"] = _png(fig, out / "saving-by-campaign-and-reboot-share.png")

    fig, ax = _chart(
        f"Cumulative benefit against the £{inputs.one_off_gbp:,} one-off cost",
        "months after go-live",
        "cumulative net benefit, £ million",
    )
    months = list(range(13))
    for factor in (0.25, 0.5, 1.0, 2.0):
        net = case(inputs, factor).net_per_month_gbp
        ys = [(net * m - inputs.one_off_gbp) / 1e6 for m in months]
        ax.plot(months, ys, marker=".", label=f"campaign {factor:g}×")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.legend(fontsize=8)
    images["cumulative"] = _png(fig, out / "cumulative-net-benefit.png")

    fig, ax = _chart(
        "Payback time of the one-off cost",
        "campaign size (× the May 2022 month, log scale)",
        "payback, days",
    )
    factors = [0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0]
    days = [case(inputs, f).payback_days or float("nan") for f in factors]
    ax.plot(factors, days, marker="o")
    for f, d in zip(factors, days, strict=True):
        ax.annotate(f"{d:.0f} d", (f, d), textcoords="offset points", xytext=(4, 6), fontsize=8)
    ax.set_xscale("log")
    images["payback"] = _png(fig, out / "payback-by-campaign-size.png")
    return images


TEMPLATE = "business_case.html.j2"  # beside this module


@dataclass(slots=True)
class Report:
    html: Path
    charts: list[Path]
    base: Case
    retention: dict[str, float]


def write_report(
    out: Path, inputs: Inputs | None = None, simulation: dict[str, Any] | None = None
) -> Report:
    from poagate import __version__

    inputs = inputs or Inputs()
    out.mkdir(parents=True, exist_ok=True)
    images = charts(inputs, out)
    base = case(inputs)
    retention = guard_retention(simulation) if simulation else {}
    grid = [
        {"factor": f"{f:g}", "cases": [case(inputs, f, s) for s in REBOOT_SHARES]}
        for f in CAMPAIGN_FACTORS
    ]
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("poagate.sim", ""), autoescape=True
    )
    html = environment.get_template(TEMPLATE).render(
        inputs=inputs,
        base=base,
        shares=REBOOT_SHARES,
        grid=grid,
        images=images,
        retention=[(name, share, case(inputs, share)) for name, share in retention.items()],
        version=__version__,
        made_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    path = out / "business-case.html"
    path.write_text(html, encoding="utf-8")
    return Report(path, sorted(out.glob("*.png")), base, retention)
