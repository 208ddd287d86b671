"""The simulator against spec §14: a site answers a verification only when it has power, after
a delay, and loses an answer with ``verification_loss``; bricked meters and storm sites never
answer; a superseded or cancelled future-dated activation never reboots its meter."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import orjson

from poagate.domain.verification import VerificationPlan
from poagate.sim.answers import ANSWER_DELAY_SECONDS, RaisedAd1, verification_answers
from poagate.sim.fleet import FleetSpec, generate_fleet
from poagate.sim.power import REBOOT_OUTAGE_MINUTES, PowerLog
from poagate.sim.traffic import Cause, TrafficSpec, generate_traffic
from tests.helpers import CHF, ESME, ts

PLAN = VerificationPlan(timedelta(minutes=10), timedelta(minutes=3), 2)
EVENT = ts("2026-03-01T10:02:00Z")


def raised(n: int = 0, qualifies: bool = True) -> RaisedAd1:
    return RaisedAd1(f"A{n}", CHF, ESME, EVENT, EVENT + timedelta(minutes=3), qualifies)


def answers(power: PowerLog, *ads: RaisedAd1, loss: float = 0.0) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in verification_answers(list(ads), power, PLAN, loss, 1)]


def test_a_powered_site_answers_the_first_request_after_a_delay_from_the_esme_or_hub() -> None:
    found = answers(PowerLog(), *(raised(n) for n in range(200)))
    assert len(found) == 200
    low, _, high = ANSWER_DELAY_SECONDS
    for answer in found:
        at = ts(str(answer["received_at"]))
        assert EVENT + PLAN.after + timedelta(seconds=low) <= at
        assert at <= EVENT + PLAN.after + timedelta(seconds=high)
    assert {a["device_id"] for a in found} == {ESME, CHF}


def test_a_site_back_only_for_the_second_attempt_answers_that_one() -> None:
    power = PowerLog()
    power.off(CHF, EVENT, EVENT + timedelta(minutes=11))  # back between the two requests
    [answer] = answers(power, raised())
    assert ts(str(answer["received_at"])) >= EVENT + PLAN.after + PLAN.timeout


def test_a_dead_or_storm_bound_site_never_answers() -> None:
    bricked, storm = PowerLog(), PowerLog()
    bricked.off(CHF, EVENT, None)
    storm.off(CHF, EVENT, EVENT + timedelta(hours=3))
    assert answers(bricked, raised()) == []
    assert answers(storm, raised()) == []


def test_answers_are_lost_with_the_given_probability() -> None:
    ads = [raised(n) for n in range(2000)]
    power = PowerLog()
    power.off(CHF, EVENT, EVENT + timedelta(minutes=11))  # one attempt to answer: the second
    found = answers(power, *ads, loss=0.25)
    assert 1300 < len(found) < 1700  # 75% of 2,000, give or take


def test_only_sites_that_qualify_are_asked() -> None:
    assert answers(PowerLog(), raised(qualifies=False)) == []


def test_the_power_log_holds_every_interval() -> None:
    power = PowerLog()
    power.off(CHF, EVENT + timedelta(hours=1), EVENT + timedelta(hours=2))
    power.off(CHF, EVENT, EVENT + timedelta(minutes=5))
    assert not power.has_power(CHF, EVENT)
    assert power.has_power(CHF, EVENT + timedelta(minutes=5))
    assert not power.has_power(CHF, EVENT + timedelta(minutes=90))
    assert power.has_power(CHF, EVENT + timedelta(hours=2))
    assert power.has_power(ESME, EVENT)  # nothing logged: on supply


def test_rebooting_meters_are_off_within_the_documented_range() -> None:
    fleet = generate_fleet(FleetSpec(esmes=500, seed=3))
    traffic = generate_traffic(fleet, TrafficSpec(activations=600, genuine_ad1=0, seed=3))
    low, high = REBOOT_OUTAGE_MINUTES
    firmware = [r for r in traffic.raised if traffic.truth[r.alert_id] is Cause.FIRMWARE]
    assert len(firmware) > 50
    for ad1 in firmware:
        if ad1.event_at == ad1.received_at:
            continue  # the alert carried no event_at
        assert not traffic.power.has_power(ad1.chf_id, ad1.event_at + timedelta(minutes=low - 0.01))
        assert traffic.power.has_power(ad1.chf_id, ad1.event_at + timedelta(minutes=high))


def test_a_superseded_or_cancelled_future_dated_activation_never_reboots_its_meter() -> None:
    # Every activation future-dated, each one superseded or cancelled and no AD1 delivered late
    # or without event_at: each firmware AD1 must follow an activation that really ran, i.e.
    # fall within 90 s of a surviving execution. The month's requests say which survive.
    fleet = generate_fleet(FleetSpec(esmes=300, seed=2))
    spec = TrafficSpec(
        activations=400,
        genuine_ad1=0,
        future_share=1.0,
        cancel_share=0.3,
        supersede_share=0.7,
        reboot_share=1.0,
        late_delivery_share=0.0,
        missing_event_at_share=0.0,
        seed=2,
    )
    traffic = generate_traffic(fleet, spec)
    esme_of = {s.chf_id: s.esme_id for s in fleet.sites}
    runs: dict[str, list[tuple[datetime, datetime]]] = {}
    for line in traffic.requests:
        event = orjson.loads(line)
        if event.get("type") == "activation" and event.get("execution_at"):
            device = event["request_id"].split(":")[1]
            runs.setdefault(device, []).append(
                (ts(event["received_at"]), ts(event["execution_at"]))
            )
    for ad1 in traffic.raised:
        planned = sorted(runs[esme_of[ad1.chf_id]])
        ran = [
            execution
            for i, (_, execution) in enumerate(planned)
            if not any(received < execution for received, _ in planned[i + 1 :])
        ]
        assert any(timedelta(0) < ad1.event_at - e <= timedelta(seconds=90) for e in ran), ad1
    superseded = replace(spec, supersede_share=0.0, cancel_share=0.0)
    assert len(generate_traffic(fleet, superseded).raised) > len(traffic.raised)
