"""A storm in a simulated month: whole postcode districts off supply for hours.

Its plan has its own random stream, so that the rest of the month is the same with or without a
storm.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from poagate.sim.fleet import Fleet

StormPlan = dict[str, tuple[datetime, datetime]]  # district -> (off, back on)


def plan_storm(
    fleet: Fleet,
    seed: int,
    sites: int,
    start: datetime,
    hours: tuple[float, float],
) -> StormPlan:
    """Which districts the storm takes off supply, from when until when: districts in a seeded
    order until about ``sites`` premises are hit."""
    if not sites:
        return {}
    rng = random.Random(seed * 7_919 + 1)
    by_district: dict[str, int] = {}
    for site in fleet.sites:
        by_district[site.district] = by_district.get(site.district, 0) + 1
    districts = sorted(by_district)
    rng.shuffle(districts)
    plan: StormPlan = {}
    hit = 0
    for district in districts:
        if hit >= sites:
            break
        # The storm front reaches each district within two hours of its start.
        off = start + timedelta(minutes=rng.uniform(0, 120))
        plan[district] = (off, off + timedelta(hours=rng.uniform(*hours)))
        hit += by_district[district]
    return plan
