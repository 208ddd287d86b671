"""Simulated DSP traffic over a fleet, with ground truth for every AD1.

Seeded and deterministic. It produces what the DSP would see: firmware activations (immediate
and future-dated, some cancelled or superseded, DSP retries and signed pre-commands), the AD1s
that rebooting meters cause a few minutes later, genuine AD1s, the responses and alerts that show
a device is alive, duplicates, and a few malformed lines. Lines come out as canonical JSON Lines,
some wrapped as DUIS XML, in two feeds (requests and device traffic, and AD1 alerts) each in
received_at order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import orjson

from poagate.domain.events import CANCELLATION_THRESHOLD
from poagate.formats.timestamps import format_timestamp, to_us
from poagate.sim import duis
from poagate.sim.fleet import Fleet, Site

CANCEL_AT = datetime(3000, 12, 31, tzinfo=UTC)
assert CANCEL_AT >= CANCELLATION_THRESHOLD
SUPPLIER_USERS = (
    "90-B3-D5-1F-30-01-00-00",
    "90-B3-D5-1F-30-01-00-01",
    "90-B3-D5-1F-30-01-00-02",
    "90-B3-D5-1F-30-01-00-03",
)
HUB_ALERT_DELAY = timedelta(minutes=3)  # a hub unpowered this long raises the outage alert


class Cause(StrEnum):
    """Why an AD1 was raised: the simulator knows; poagate has to infer."""

    FIRMWARE = "firmware"  # a reboot on firmware activation: spurious
    GENUINE = "genuine"  # a real loss of supply
    STORM = "storm"  # a real loss of supply of a whole district in a storm
    BRICKED = "bricked"  # the firmware left the meter dead: the hub is off until a visit

    @property
    def spurious(self) -> bool:
        """Whether a site visit for this AD1 would be wasted."""
        return self is Cause.FIRMWARE


@dataclass(frozen=True, slots=True)
class TrafficSpec:
    start: datetime = datetime(2026, 3, 2, tzinfo=UTC)
    days: float = 7.0
    activations: int = 6_000
    future_share: float = 0.4
    cancel_share: float = 0.05  # of future-dated activations
    supersede_share: float = 0.05  # of future-dated activations
    repeat_share: float = 0.10  # DSP retries and signed pre-commands
    reboot_share: float = 0.6  # L+G activations whose reboot cuts the hub > 3 minutes
    other_reboot_share: float = 0.05  # the same for other manufacturers
    genuine_ad1: int = 3_000
    late_delivery_share: float = 0.01  # AD1s delivered hours late
    missing_event_at_share: float = 0.05
    duplicate_share: float = 0.01
    response_share: float = 0.8  # activations followed by a response or 8F66/8F67
    malformed: int = 20
    duis_share: float = 0.0  # share of lines sent as DUIS XML rather than canonical JSON
    # Genuine single-site outages: how long they last and whether the site is seen again.
    outage_minutes_mean: float = 90.0
    restore_message_share: float = 0.9  # outages after which a device message shows the site
    brick_share: float = 0.0  # of rebooting L+G activations: the meter never comes back
    # A large future-dated campaign executing on one night (in addition to ``activations``).
    campaign_activations: int = 0
    campaign_day: int = 3
    campaign_hours: tuple[float, float] = (1.0, 5.0)
    # A storm: whole postcode districts off supply for hours, about ``storm_sites`` premises.
    storm_sites: int = 0
    storm_day: int = 3
    storm_start_hour: float = 1.5
    storm_hours: tuple[float, float] = (2.0, 8.0)
    seed: int = 1


@dataclass(slots=True)
class Traffic:
    """The generated lines of each feed, sorted, and what really caused each AD1."""

    requests: list[bytes] = field(default_factory=list)
    alerts: list[bytes] = field(default_factory=list)
    truth: dict[str, Cause] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def write(self, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, lines in (("requests.jsonl", self.requests), ("alerts.jsonl", self.alerts)):
            path = directory / name
            with path.open("wb") as f:
                f.writelines(lines)
            paths.append(path)
        return paths


class _Builder:
    def __init__(self, spec: TrafficSpec, fleet: Fleet, keep_truth: bool) -> None:
        self.spec = spec
        self.fleet = fleet
        self.rng = random.Random(spec.seed)
        self.keep_truth = keep_truth
        self.requests: list[tuple[int, int, bytes]] = []
        self.alerts: list[tuple[int, int, bytes]] = []
        self.truth: dict[str, Cause] = {}
        self.counts: dict[str, int] = {}
        self._seq = 0
        self._alert_no = 0
        self._counter = 1_000_000
        self.storm = self._plan_storm()

    def _count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def _emit(
        self, feed: list[tuple[int, int, bytes]], received: datetime, obj: dict[str, object]
    ) -> None:
        self._seq += 1
        line = orjson.dumps(obj, option=orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE)
        feed.append((to_us(received), self._seq, line))

    def _as_duis(self) -> bool:
        return self.spec.duis_share > 0 and self.rng.random() < self.spec.duis_share

    def _time_of_day(self, day: int, start_hour: float, end_hour: float) -> datetime:
        hours = self.rng.uniform(start_hour, end_hour)
        return self.spec.start + timedelta(days=day, hours=hours)

    def request_id(self, site: Site, user: str) -> str:
        self._counter += self.rng.randint(1, 7)
        return f"{user}:{site.esme_id}:{self._counter}"

    # -- events -----------------------------------------------------------------------------

    def activation(
        self,
        request_id: str,
        received: datetime,
        execution_at: datetime | None,
        command_variant: int = 4,
    ) -> None:
        if self._as_duis():
            obj: dict[str, object] = {
                "type": "duis",
                "received_at": received,
                "xml": duis.activate_firmware(request_id, execution_at, command_variant),
            }
        else:
            obj = {
                "type": "activation",
                "request_id": request_id,
                "received_at": received,
                "command_variant": command_variant,
            }
            if execution_at is not None:
                obj["execution_at"] = execution_at
        self._emit(self.requests, received, obj)

    def ad1(self, site: Site, outage_at: datetime, cause: Cause) -> None:
        spec, rng = self.spec, self.rng
        self._alert_no += 1
        alert_id = f"AD1-{spec.seed:03d}-{self._alert_no:09d}"
        delay = timedelta(seconds=rng.expovariate(1 / 20))
        if rng.random() < spec.late_delivery_share:
            delay += timedelta(hours=rng.uniform(1, 6))
        received = outage_at + HUB_ALERT_DELAY + delay
        event_at = None if rng.random() < spec.missing_event_at_share else outage_at
        if self._as_duis():
            obj: dict[str, object] = {
                "type": "duis",
                "received_at": received,
                "xml": duis.ad1_alert(alert_id, site.chf_id, event_at),
            }
        else:
            obj = {
                "type": "ad1",
                "alert_id": alert_id,
                "chf_id": site.chf_id,
                "received_at": received,
            }
            if event_at is not None:
                obj["event_at"] = event_at
        self._emit(self.alerts, received, obj)
        if self.keep_truth:
            self.truth[alert_id] = cause
        self._count(f"ad1_{cause.value}")
        if rng.random() < spec.duplicate_share:
            again = received + timedelta(minutes=rng.uniform(1, 30))
            self._emit(self.alerts, again, {**obj, "received_at": again})
            self._count("ad1_duplicates")

    def sign_of_life(self, site: Site, at: datetime, user: str, request_id: str | None) -> None:
        if self.storm:
            at = self._after_storm(site, at)
        counter = int(request_id.rsplit(":", 1)[1]) if request_id else self.rng.randint(1, 10**9)
        if self._as_duis():
            xml = (
                duis.future_dated_outcome(site.esme_id, user, request_id, True)
                if request_id
                else duis.success_response(site.esme_id, user, counter)
            )
            obj: dict[str, object] = {"type": "duis", "received_at": at, "xml": xml}
        elif request_id:
            obj = {
                "type": "activation_outcome",
                "device_id": site.esme_id,
                "received_at": at,
                "request_id": request_id,
                "success": True,
            }
        else:
            obj = {"type": "device_message", "device_id": site.esme_id, "received_at": at}
        self._emit(self.requests, at, obj)

    def reboot(self, site: Site, activated_at: datetime, user: str, request_id: str | None) -> None:
        """The meter activates the firmware; some reboots cut the hub for over three minutes,
        and a release that bricks meters leaves some of them dead (no sign of life again)."""
        rng, spec = self.rng, self.spec
        lg = site.manufacturer.strip().upper() == "LANDIS+GYR"
        share = spec.reboot_share if lg else spec.other_reboot_share
        power_off = activated_at + timedelta(seconds=rng.uniform(5, 90))
        back = power_off
        if lg and spec.brick_share and rng.random() < spec.brick_share:
            self.ad1(site, power_off, Cause.BRICKED)
            self._count("bricked")
            return
        if rng.random() < share:
            back = power_off + HUB_ALERT_DELAY + timedelta(minutes=rng.uniform(0.5, 8))
            self.ad1(site, power_off, Cause.FIRMWARE)
        if rng.random() < spec.response_share:
            self.sign_of_life(
                site, back + timedelta(seconds=rng.uniform(20, 120)), user, request_id
            )

    def malformed(self, at: datetime) -> None:
        rng = self.rng
        choice = rng.randrange(7)
        stamp = format_timestamp(at)
        chf = self.rng.choice(self.fleet.sites).chf_id
        line: bytes = [
            b'{"type":"ad1","alert_id":"BROKEN-' + str(self._seq).encode() + b'",',
            orjson.dumps({"type": "ad1", "alert_id": f"X-{self._seq}", "received_at": stamp}),
            orjson.dumps(
                {
                    "type": "ad1",
                    "alert_id": f"X-{self._seq}",
                    "chf_id": "not-a-device",
                    "received_at": stamp,
                }
            ),
            orjson.dumps(
                {
                    "type": "ad1",
                    "alert_id": f"X-{self._seq}",
                    "chf_id": chf,
                    "received_at": stamp[:-1],
                }
            ),
            orjson.dumps({"type": "meter_reading", "received_at": stamp}),
            orjson.dumps({"type": "activation", "request_id": "12345", "received_at": stamp}),
            orjson.dumps(["ad1", stamp]),
        ][choice]
        self._seq += 1
        self.alerts.append((to_us(at), self._seq, line + b"\n"))
        self._count("malformed")

    # -- the week -------------------------------------------------------------------------------

    def build(self) -> Traffic:
        spec, rng, sites = self.spec, self.rng, self.fleet.sites
        days = max(1, int(spec.days))
        for _ in range(spec.activations):
            site = rng.choice(sites)
            user = rng.choice(SUPPLIER_USERS)
            day = rng.randrange(days)
            if self._as_duis():
                # The firmware image goes out (SRV 11.1) before it is activated: ignored.
                sent = spec.start + timedelta(days=day, hours=rng.uniform(0, 8))
                xml = duis.update_firmware(self.request_id(site, user), site.esme_id)
                self._emit(self.requests, sent, {"type": "duis", "received_at": sent, "xml": xml})
                self._count("other_requests")
            if rng.random() < spec.future_share:
                self._future_dated(site, user, day)
            else:
                received = self._time_of_day(day, 8, 20)
                rid = self.request_id(site, user)
                self.activation(rid, received, None)
                self._count("activations_immediate")
                last = received
                if rng.random() < spec.repeat_share:
                    # A signed pre-command or a DSP retry: the same request_id, a little later.
                    last = received + timedelta(minutes=rng.uniform(1, 20))
                    self.activation(rid, last, None, rng.choice((4, 5, 6, 7)))
                    self._count("activation_repeats")
                self.reboot(site, received + timedelta(seconds=rng.uniform(10, 120)), user, None)
        for _ in range(spec.campaign_activations):
            self._campaign_activation(rng.choice(sites), rng.choice(SUPPLIER_USERS))
        end = spec.start + timedelta(days=spec.days)
        span = (end - spec.start).total_seconds()
        for _ in range(spec.genuine_ad1):
            site = rng.choice(sites)
            outage = spec.start + timedelta(seconds=rng.uniform(0, span))
            self.ad1(site, outage, Cause.GENUINE)
            minutes = max(4.0, rng.expovariate(1 / spec.outage_minutes_mean))
            self._restored(site, outage + timedelta(minutes=minutes))
        if spec.storm_sites:
            self._storm()
        for _ in range(spec.malformed):
            self.malformed(spec.start + timedelta(seconds=rng.uniform(0, span)))
        self.requests.sort()
        self.alerts.sort()
        traffic = Traffic(
            requests=[line for *_, line in self.requests],
            alerts=[line for *_, line in self.alerts],
            truth=self.truth,
            counts=self.counts,
        )
        self.requests, self.alerts = [], []
        return traffic

    def _restored(self, site: Site, at: datetime) -> None:
        """Supply is back: most sites show it with a message soon after."""
        if self.rng.random() < self.spec.restore_message_share:
            seen = at + timedelta(minutes=self.rng.uniform(1, 10))
            self.sign_of_life(site, seen, self.rng.choice(SUPPLIER_USERS), None)

    def _campaign_activation(self, site: Site, user: str) -> None:
        """One activation of the night's campaign: future-dated, executing in its hours."""
        spec, rng = self.spec, self.rng
        received = self._time_of_day(spec.campaign_day - 1, 9, 17)
        low, high = spec.campaign_hours
        execution = spec.start + timedelta(days=spec.campaign_day, hours=rng.uniform(low, high))
        execution = execution.replace(second=0, microsecond=0)
        rid = self.request_id(site, user)
        self.activation(rid, received, execution)
        self._count("campaign_activations")
        self.reboot(site, execution, user, rid)

    def _plan_storm(self) -> dict[str, tuple[datetime, datetime]]:
        """Which districts the storm takes off supply, from when until when (its own random
        stream, so that the rest of the month is the same with or without a storm)."""
        spec = self.spec
        if not spec.storm_sites:
            return {}
        rng = random.Random(spec.seed * 7_919 + 1)
        by_district: dict[str, int] = {}
        for site in self.fleet.sites:
            by_district[site.district] = by_district.get(site.district, 0) + 1
        districts = sorted(by_district)
        rng.shuffle(districts)
        start = spec.start + timedelta(days=spec.storm_day, hours=spec.storm_start_hour)
        plan: dict[str, tuple[datetime, datetime]] = {}
        hit = 0
        for district in districts:
            if hit >= spec.storm_sites:
                break
            # The storm front reaches each district within two hours of its start.
            off = start + timedelta(minutes=rng.uniform(0, 120))
            plan[district] = (off, off + timedelta(hours=rng.uniform(*spec.storm_hours)))
            hit += by_district[district]
        return plan

    def _storm(self) -> None:
        """Whole postcode districts go off supply for hours: every premises raises an AD1."""
        rng = self.rng
        hit = 0
        for site in self.fleet.sites:
            window = self.storm.get(site.district)
            if window is None:
                continue
            off, back = window
            self.ad1(site, off + timedelta(seconds=rng.uniform(0, 300)), Cause.STORM)
            self._restored(site, back + timedelta(minutes=rng.uniform(0, 30)))
            hit += 1
        self._count("storm_sites", hit)

    def _after_storm(self, site: Site, at: datetime) -> datetime:
        """A site off supply in the storm says nothing until its supply is back."""
        window = self.storm.get(site.district)
        if window is None or not window[0] <= at < window[1]:
            return at
        return window[1] + timedelta(minutes=self.rng.uniform(1, 30))

    def _future_dated(self, site: Site, user: str, day: int) -> None:
        rng, spec = self.rng, self.spec
        received = self._time_of_day(day, 8, 20)
        execution = self.spec.start + timedelta(days=day + 1, hours=rng.uniform(1, 5))
        execution = execution.replace(second=0, microsecond=0)
        rid = self.request_id(site, user)
        self.activation(rid, received, execution)
        self._count("activations_future_dated")
        if rng.random() < spec.repeat_share:
            self.activation(rid, received + timedelta(minutes=rng.uniform(1, 20)), execution, 5)
            self._count("activation_repeats")
        roll = rng.random()
        if roll < spec.cancel_share:
            at = received + (execution - received) * rng.uniform(0.2, 0.9)
            self.activation(self.request_id(site, user), at, CANCEL_AT)
            self._count("cancellations")
            return  # cancelled: the meter never activates
        if roll < spec.cancel_share + spec.supersede_share:
            at = received + (execution - received) * rng.uniform(0.2, 0.9)
            later = execution + timedelta(hours=rng.uniform(1, 20))
            later = later.replace(second=0, microsecond=0)
            newer = self.request_id(site, user)
            self.activation(newer, at, later)
            self._count("supersedes")
            self.reboot(site, later, user, newer)
            return
        self.reboot(site, execution, user, rid)


def generate_traffic(fleet: Fleet, spec: TrafficSpec, keep_truth: bool = True) -> Traffic:
    return _Builder(spec, fleet, keep_truth).build()
