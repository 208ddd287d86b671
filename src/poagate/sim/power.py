"""When each simulated site is off supply: the ground truth a verification is answered from.

A site (an ESME and the hub it powers) is off supply while its meter reboots, after a firmware
release bricked it (for good: until a site visit, which the month never sees), during a
genuine outage, and while a storm has its postcode district down. The simulator records each
of those as an interval here as it makes the traffic.

**How long a rebooting meter is off** (``REBOOT_OUTAGE_MINUTES``): a reboot raises an AD1 only
when it cuts the hub's power for more than three minutes (the working group's summary, the
seed of spec §1), so every AD1-raising reboot lasts over 3 minutes; its length beyond that is
not published. We assume 3.5 to 11 minutes, uniformly: the 3 minutes of the alert plus 0.5 to
8 minutes for the meter to finish activating its image and start again, a range well inside
the 30 minutes MP102B's window allows for a meter to come back. The verification guard's V has
to be chosen against the real figure, which the DCC can measure (the time from an AD1 to the
meter's next message): docs/guards.md shows what V costs and saves either side of this range.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta

# A reboot that raises an AD1: the hub is unpowered for this many minutes (see above).
REBOOT_OUTAGE_MINUTES = (3.5, 11.0)
HUB_ALERT_DELAY = timedelta(minutes=3)  # a hub unpowered this long raises the outage alert


class PowerLog:
    """The intervals each hub's site is off supply: ``[start, end)``, ``end`` None for good."""

    __slots__ = ("_off",)

    def __init__(self) -> None:
        self._off: dict[str, list[tuple[datetime, datetime | None]]] = {}

    def off(self, chf_id: str, start: datetime, end: datetime | None) -> None:
        bisect.insort(self._off.setdefault(chf_id, []), (start, end), key=lambda i: i[0])

    def has_power(self, chf_id: str, at: datetime) -> bool:
        for start, end in self._off.get(chf_id, ()):
            if start > at:
                return True  # sorted by start: no later interval can hold ``at``
            if end is None or at < end:
                return False
        return True
