"""Simulated DSP traffic over a fleet, with ground truth for every AD1.

Seeded and deterministic. It produces what the DSP would see: firmware activations (immediate
and future-dated, some cancelled or superseded, DSP retries and signed pre-commands), the AD1s
that rebooting meters cause a few minutes later, genuine AD1s, the responses and alerts that show
a device is alive, duplicates, and a few malformed lines. Lines come out as canonical JSON Lines,
some wrapped as DUIS XML, in two feeds (requests and device traffic, and AD1 alerts) each in
received_at order.

Every site's time off supply (reboots, bricked meters, genuine outages, the storm) is kept in a
``PowerLog``, with every AD1 raised, so that the verification guard's requests can be answered
as a DSP would (``poagate.sim.answers``). A future-dated activation that a later one superseded
or a cancellation cancelled (R3, R4) never runs, so its meter does not reboot for it: reboots of
future-dated activations are decided once the month's activations are all known.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import orjson

from poagate.domain.events import CANCELLATION_THRESHOLD
from poagate.formats.timestamps import format_timestamp, to_us
from poagate.sim import duis
from poagate.sim.answers import RaisedAd1
from poagate.sim.fleet import Fleet, Site
from poagate.sim.malformed import malformed_line
from poagate.sim.month import Cause, Traffic, TrafficSpec
from poagate.sim.power import HUB_ALERT_DELAY, REBOOT_OUTAGE_MINUTES, PowerLog
from poagate.sim.storm import plan_storm

__all__ = ["Cause", "Traffic", "TrafficSpec", "generate_traffic"]

CANCEL_AT = datetime(3000, 12, 31, tzinfo=UTC)
assert CANCEL_AT >= CANCELLATION_THRESHOLD
SUPPLIER_USERS = (
    "90-B3-D5-1F-30-01-00-00",
    "90-B3-D5-1F-30-01-00-01",
    "90-B3-D5-1F-30-01-00-02",
    "90-B3-D5-1F-30-01-00-03",
)


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
        self.power = PowerLog()
        self.raised: list[RaisedAd1] = []
        self._last_alert: dict[str, str] = {}  # the last AD1 raised by each hub
        # Future-dated activations and cancellations by device, run once all are known (R3/R4):
        # (received_at, execution_at or None for a cancellation, request_id, user, site).
        self._future: dict[str, list[tuple[datetime, datetime | None, str, str, Site]]] = {}
        # Activations that run: (when, request_id, user, site, request_id its outcome reports).
        self._reboots: list[tuple[datetime, str, str, Site, str | None]] = []
        self.storm = plan_storm(
            fleet,
            spec.seed,
            spec.storm_sites,
            spec.start + timedelta(days=spec.storm_day, hours=spec.storm_start_hour),
            spec.storm_hours,
        )

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
        self._last_alert[site.chf_id] = alert_id
        if self.keep_truth:
            self.truth[alert_id] = cause
            seen = received if event_at is None else event_at
            self.raised.append(
                RaisedAd1(alert_id, site.chf_id, site.esme_id, seen, received, site.qualifies)
            )
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
        if self._storm_off(site, power_off) or not self.power.has_power(site.chf_id, power_off):
            # A meter off supply (a storm) or dead (bricked before) does not reboot: its hub is
            # unpowered already, and raised its AD1 when it lost power.
            self._count("activations_off_supply")
            return
        if lg and spec.brick_share and rng.random() < spec.brick_share:
            self.ad1(site, power_off, Cause.BRICKED)
            self.power.off(site.chf_id, power_off, None)  # dead until a site visit
            self._count("bricked")
            return
        if rng.random() < share:
            back = power_off + timedelta(minutes=rng.uniform(*REBOOT_OUTAGE_MINUTES))
            self.power.off(site.chf_id, power_off, back)
            self.ad1(site, power_off, Cause.FIRMWARE)
        if rng.random() < spec.response_share:
            self.sign_of_life(
                site, back + timedelta(seconds=rng.uniform(20, 120)), user, request_id
            )

    def malformed(self, at: datetime) -> None:
        chf = self.rng.choice(self.fleet.sites).chf_id
        line = malformed_line(self.rng, self._seq, format_timestamp(at), chf)
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
                activated = received + timedelta(seconds=rng.uniform(10, 120))
                self._reboots.append((activated, rid, user, site, None))
        for _ in range(spec.campaign_activations):
            self._campaign_activation(rng.choice(sites), rng.choice(SUPPLIER_USERS))
        self._run_activations()
        end = spec.start + timedelta(days=spec.days)
        span = (end - spec.start).total_seconds()
        for _ in range(spec.genuine_ad1):
            site = rng.choice(sites)
            outage = spec.start + timedelta(seconds=rng.uniform(0, span))
            self.ad1(site, outage, Cause.GENUINE)
            minutes = max(4.0, rng.expovariate(1 / spec.outage_minutes_mean))
            self.power.off(site.chf_id, outage, outage + timedelta(minutes=minutes))
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
            raised=self.raised,
            power=self.power,
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
        self._plan(site, user, rid, received, execution)

    def _storm(self) -> None:
        """Whole postcode districts go off supply for hours: every premises raises an AD1."""
        rng = self.rng
        hit = 0
        for site in self.fleet.sites:
            window = self.storm.get(site.district)
            if window is None:
                continue
            off, back = window
            at = off + timedelta(seconds=rng.uniform(0, 300))
            if self.power.has_power(site.chf_id, at):
                self.ad1(site, at, Cause.STORM)
            else:
                # The hub was already unpowered (a reboot under way): it stays so and raises no
                # second AD1, and the one it raised now reports a real loss of supply.
                self._relabel(site.chf_id, Cause.STORM)
            self.power.off(site.chf_id, off, back)
            self._restored(site, back + timedelta(minutes=rng.uniform(0, 30)))
            hit += 1
        self._count("storm_sites", hit)

    def _storm_off(self, site: Site, at: datetime) -> bool:
        window = self.storm.get(site.district)
        return window is not None and window[0] <= at < window[1]

    def _relabel(self, chf_id: str, cause: Cause) -> None:
        """The last AD1 of ``chf_id`` turns out to have been raised for ``cause``."""
        alert_id = self._last_alert.get(chf_id)
        if alert_id is None or alert_id not in self.truth:
            return
        self._count(f"ad1_{self.truth[alert_id].value}", -1)
        self._count(f"ad1_{cause.value}")
        self.truth[alert_id] = cause

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
        self._plan(site, user, rid, received, execution)
        if roll < spec.cancel_share:
            at = received + (execution - received) * rng.uniform(0.2, 0.9)
            cancellation = self.request_id(site, user)
            self.activation(cancellation, at, CANCEL_AT)
            self._count("cancellations")
            self._plan(site, user, cancellation, at, None)  # the meter never activates rid
        elif roll < spec.cancel_share + spec.supersede_share:
            at = received + (execution - received) * rng.uniform(0.2, 0.9)
            later = execution + timedelta(hours=rng.uniform(1, 20))
            later = later.replace(second=0, microsecond=0)
            newer = self.request_id(site, user)
            self.activation(newer, at, later)
            self._count("supersedes")
            self._plan(site, user, newer, at, later)

    def _plan(
        self, site: Site, user: str, rid: str, received: datetime, execution: datetime | None
    ) -> None:
        """A future-dated activation (``execution``) or a cancellation (None) of the site's
        meter, to be run by ``_run_activations``."""
        self._future.setdefault(site.esme_id, []).append((received, execution, rid, user, site))

    def _run_activations(self) -> None:
        """Reboot each meter for the activations it really runs: every immediate one, and the
        future-dated ones that no later activation superseded (R3) or cancellation cancelled
        (R4) before their time — the device holds one pending activation."""
        for planned in self._future.values():
            planned.sort(key=lambda p: (p[0], p[2]))
            for i, (_, execution, rid, user, site) in enumerate(planned):
                if execution is None:
                    continue
                later = (p for p in planned[i + 1 :] if p[2] != rid)
                if not any(received < execution for received, *_ in later):
                    self._reboots.append((execution, rid, user, site, rid))
        # Every meter that really activates, in time order: a meter bricked by one activation
        # is dead for the next.
        for activated, _, user, site, reported in sorted(self._reboots, key=lambda r: r[:2]):
            self.reboot(site, activated, user, reported)


def generate_traffic(fleet: Fleet, spec: TrafficSpec, keep_truth: bool = True) -> Traffic:
    return _Builder(spec, fleet, keep_truth).build()
