"""The spec §9 guards in the HTTP service, on each backend.

The test fleet's fourteen sites share one postcode sector (``SW1A 1``), one site per DNO area,
so AD1s of other DNOs' hubs are area-outage evidence for each other. Every request is its own
group commit, so each decision below is made from what the store holds, not from memory.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from poagate.store.database import open_store
from tests.api_harness import (
    AREA,
    SECRET,
    Api,
    Clock,
    Receiver,
    activation,
    ad1,
    chf_of,
    decide,
    delivering_api,
    esme_of,
    feed_of,
    log_of,
    make_api,
    put_config,
    wait_until,
)
from tests.helpers import ts


def test_the_service_takes_the_guards_in_its_configuration(api: Api) -> None:
    shown = put_config(api, release_after_minutes=60, **AREA)
    assert shown["release_after_minutes"] == 60
    assert shown["area_outage_threshold"] == 3
    admin = api.token("admin")
    again = api.get(admin, "/v1/config").json()
    assert (again["release_after_minutes"], again["area_outage_seconds"]) == (60, 900)
    refused = api.client.put(
        "/v1/config", json={"area_outage_threshold": 0}, headers=api.auth(admin)
    )
    assert refused.status_code == 422
    assert "area_outage_threshold" in refused.text


def test_area_outage_forwards_and_releases_from_what_the_store_holds(api: Api) -> None:
    put_config(api, **AREA)
    dsp = api.token("dsp")
    decide(api, dsp, activation(esme_of("10"), 1))  # a window on hub 10 from 10:00
    held = decide(api, dsp, ad1("H10", chf_of("10"), "2026-03-01T10:05:00Z"))
    assert held[0]["outcome"] == "suppressed"
    # Evidence must lie within 900 s of the AD1's event_at: 10:21 is not.
    far = decide(api, dsp, ad1("F14", chf_of("14"), "2026-03-01T10:21:00Z"))
    assert far[0]["reason"] == "no_active_window"
    for operator in ("11", "12"):
        decide(api, dsp, ad1(f"S{operator}", chf_of(operator), "2026-03-01T10:07:00Z"))
    assert log_of(api, "10")["H10"]["released_at"] is None  # two are not three
    api.clock.advance(minutes=2)
    decide(api, dsp, ad1("S13", chf_of("13"), "2026-03-01T10:08:00Z"))  # the third

    entry = log_of(api, "10")["H10"]
    assert entry["release_reason"] == "area_outage_evidence"
    assert entry["released_at"] == "2026-03-01T10:02:00Z"
    assert entry["decided_at"] == "2026-03-01T10:00:00Z"  # the entry keeps its decision
    # Now an AD1 in the window is forwarded at once, with the reason.
    later = decide(api, dsp, ad1("L10", chf_of("10"), "2026-03-01T10:09:00Z"))
    assert later[0]["outcome"] == "forwarded"
    assert later[0]["reason"] == "area_outage_evidence"

    feed = feed_of(api, "10", limit=1)  # page by page, through the release
    assert [(f["alert_id"], f["release_reason"] or f["reason"]) for f in feed] == [
        ("H10", "area_outage_evidence"),
        ("L10", "area_outage_evidence"),
    ]
    assert feed[0]["type"] == "ad1.released"  # spec §18: a release says so, and when
    assert feed[0]["released_at"] == "2026-03-01T10:02:00Z"
    assert feed[0]["decided_at"] < feed[0]["released_at"]  # decided when it was suppressed
    assert [f["alert_id"] for f in feed_of(api, "11")] == ["S11"]  # nothing of hub 10
    admin = api.token("admin")
    assert api.get(admin, "/v1/summary").json()["ad1_released"] == 1


def test_area_outage_off_leaves_the_window_alone(api: Api) -> None:
    dsp = api.token("dsp")
    decide(api, dsp, activation(esme_of("10"), 1))
    decide(api, dsp, ad1("H10", chf_of("10"), "2026-03-01T10:05:00Z"))
    for operator in ("11", "12", "13", "14"):
        decide(api, dsp, ad1(f"S{operator}", chf_of(operator), "2026-03-01T10:06:00Z"))
    assert log_of(api, "10")["H10"]["released_at"] is None
    assert feed_of(api, "10") == []


@pytest.fixture
def ticking(database: str, clock: Clock) -> Iterator[Api]:
    """The API with its release-if-dark pass running often on the test's clock."""
    yield from make_api(database, clock, release_poll_seconds=0.02)


def test_release_if_dark_releases_a_silent_hub_and_spares_a_live_one(ticking: Api) -> None:
    api = ticking
    counted = released_metric(api)
    dsp = api.token("dsp")
    decide(api, dsp, activation(esme_of("12"), 1))
    decide(api, dsp, ad1("OLD12", chf_of("12"), "2026-03-01T10:01:00Z"))  # before it is on
    put_config(api, release_after_minutes=60)
    for operator in ("10", "11"):
        decide(api, dsp, activation(esme_of(operator), 1))
        decide(api, dsp, ad1(f"D{operator}", chf_of(operator), "2026-03-01T10:05:00Z"))
    api.clock.advance(minutes=10)
    decide(api, dsp, {"type": "device_message", "device_id": esme_of("11")})  # 11 is alive
    # At 11:05:29 the entries are due but a sign of life may still be committing elsewhere.
    api.clock.now = ts("2026-03-01T11:05:29Z")
    api.background_passes("release")
    assert log_of(api, "10")["D10"]["released_at"] is None
    api.clock.now = ts("2026-03-01T11:06:00Z")
    wait_until(lambda: log_of(api, "10")["D10"]["released_at"] is not None, "the release")

    entry = log_of(api, "10")["D10"]
    assert entry["release_reason"] == "no_sign_of_life"
    assert entry["released_at"] == "2026-03-01T11:06:00Z"
    assert [(f["alert_id"], f["release_reason"] or f["reason"]) for f in feed_of(api, "10")] == [
        ("D10", "no_sign_of_life")
    ]
    api.clock.now = ts("2026-03-01T13:00:00Z")
    api.background_passes("release")
    assert log_of(api, "11")["D11"]["released_at"] is None  # its ESME spoke within the hour
    assert log_of(api, "12")["OLD12"]["released_at"] is None  # decided before it was on
    admin = api.token("admin")
    assert api.get(admin, "/v1/summary").json()["ad1_released"] == 1
    assert released_metric(api) == counted + 1


def released_metric(api: Api) -> float:
    """This process's count of dark releases (the counter lives as long as the process)."""
    for line in api.get(api.token("admin"), "/metrics").text.splitlines():
        if line.startswith('poagate_ad1_released_total{reason="no_sign_of_life"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_dark_release_is_area_evidence_for_its_sector(ticking: Api) -> None:
    api = ticking
    put_config(api, release_after_minutes=60, **AREA)
    dsp = api.token("dsp")
    for operator in ("10", "11", "12", "13"):
        decide(api, dsp, activation(esme_of(operator), 1))
    decide(api, dsp, ad1("D10", chf_of("10"), "2026-03-01T10:05:00Z"))
    decide(api, dsp, ad1("D11", chf_of("11"), "2026-03-01T10:06:00Z"))
    api.clock.advance(minutes=5)
    # Hub 13's ESME stays in touch, so release-if-dark alone would keep its AD1 suppressed.
    decide(api, dsp, {"type": "device_message", "device_id": esme_of("13")})
    decide(api, dsp, ad1("D13", chf_of("13"), "2026-03-01T10:07:00Z"))
    decide(api, dsp, ad1("F14", chf_of("14"), "2026-03-01T10:07:30Z"))  # no window: forwarded
    api.clock.advance(minutes=5)
    decide(api, dsp, {"type": "device_message", "device_id": esme_of("13")})  # after D13
    api.clock.now = ts("2026-03-01T11:08:00Z")
    wait_until(lambda: log_of(api, "13")["D13"]["released_at"] is not None, "the cascade")
    # D10 and D11 went dark; with F14 that is three forwarded AD1s of other hubs near D13.
    reasons = {
        alert: log_of(api, operator)[alert]["release_reason"]
        for operator, alert in (("10", "D10"), ("11", "D11"), ("13", "D13"))
    }
    assert reasons == {
        "D10": "no_sign_of_life",
        "D11": "no_sign_of_life",
        "D13": "area_outage_evidence",
    }


def test_a_released_ad1_reaches_the_dno_webhook_byte_for_byte(
    empty_sqlite: str, receiver: tuple[Receiver, str]
) -> None:
    rx, url = receiver
    with delivering_api(empty_sqlite, esme_of("10")) as api:
        put_config(
            api,
            delivery={  # a DNO whose system takes the DSP's message alone (spec §18)
                "webhooks": {"10": {"url": f"{url}/dno/10", "secret": SECRET, "format": "original"}}
            },
            **AREA,
        )
        dsp = api.token("dsp")
        decide(api, dsp, activation(esme_of("10"), 1))
        line = orjson.dumps(ad1("H10", chf_of("10")))  # event_at: when it is received
        assert api.post(dsp, line, "application/json").json()["items"][0]["outcome"] == (
            "suppressed"
        )
        api.background_passes("delivery")
        assert rx.receipts == []  # held while suppressed
        with open_store(empty_sqlite, "read") as store:
            assert store.outbox.counts() == {"held": 1}
        for operator in ("11", "12", "13"):
            decide(api, dsp, ad1(f"S{operator}", chf_of(operator)))
        wait_until(lambda: [r.alert_id for r in rx.delivered()] == ["H10"], "the delivery")
        assert rx.delivered()[0].body == line
        with open_store(empty_sqlite, "read") as store:
            assert store.outbox.counts() == {"delivered": 1}
