"""spec §14, the verification guard in the HTTP service, on each backend: the DSP's queue, its
answers, expiries, releases, withdrawals, a restart between request and answer, the signed
push, and the metrics. The clock is the test's; each pass runs on it (``background_passes``).

V = 10, T = 3, A = 2: an AD1 with event_at 10:05 is asked about at 10:15 (deadline 10:18) and
10:18 (deadline 10:21), and released at 10:21 (plus the 30 s a late sign may take to commit).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from standardwebhooks import Webhook

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
    esme_of,
    feed_of,
    log_of,
    make_api,
    put_config,
)
from tests.helpers import FIXTURES, ts

VERIFY = {"verify_after_minutes": 10, "verify_timeout_minutes": 3, "verify_attempts": 2}


@pytest.fixture
def ticking(database: str, clock: Clock) -> Iterator[Api]:
    """The API with its verification pass running often on the test's clock."""
    yield from make_api(database, clock, verification_poll_seconds=0.02)


def at(api: Api, moment: str) -> None:
    """Move the clock to ``moment`` and let the verification pass run on it."""
    api.clock.now = ts(moment)
    api.background_passes("verification")


def queue(api: Api, token: str, **params: Any) -> list[tuple[str, int, str]]:
    return [
        (v["alert_id"], v["attempt"], v["deadline"])
        for v in api.all_pages(token, "/v1/verifications", **params)
    ]


def suppressed(api: Api, dsp: str, *operators: str) -> None:
    """An AD1 of each operator's hub with event_at 10:05, suppressed in its window."""
    for operator in operators:
        decide(api, dsp, activation(esme_of(operator), 1))
    api.clock.now = ts("2026-03-01T10:06:00Z")
    for operator in operators:
        [item] = decide(api, dsp, ad1(f"D{operator}", chf_of(operator), "2026-03-01T10:05:00Z"))
        assert item["outcome"] == "suppressed"


def test_the_dsp_reads_its_queue_answers_and_the_silent_site_is_released(ticking: Api) -> None:
    api = ticking
    put_config(api, **VERIFY)
    dsp = api.token("dsp")
    suppressed(api, dsp, "10", "11")
    at(api, "2026-03-01T10:14:59Z")
    assert queue(api, dsp) == []  # nothing is asked before event_at + V
    at(api, "2026-03-01T10:15:30Z")
    assert queue(api, dsp) == [
        ("D10", 1, "2026-03-01T10:18:00Z"),
        ("D11", 1, "2026-03-01T10:18:00Z"),
    ]
    api.clock.now = ts("2026-03-01T10:16:00Z")
    decide(api, dsp, {"type": "device_message", "device_id": chf_of("11")})  # the hub answers
    at(api, "2026-03-01T10:16:30Z")
    assert queue(api, dsp) == [("D10", 1, "2026-03-01T10:18:00Z")]  # answered: out of the queue
    at(api, "2026-03-01T10:18:10Z")
    assert queue(api, dsp) == [("D10", 2, "2026-03-01T10:21:00Z")]  # expired, asked again
    at(api, "2026-03-01T10:21:20Z")
    assert log_of(api, "10")["D10"]["released_at"] is None  # a late sign may still commit
    at(api, "2026-03-01T10:21:31Z")

    entry = log_of(api, "10")["D10"]
    assert entry["release_reason"] == "no_answer_to_verification"
    assert entry["released_at"] == "2026-03-01T10:21:31Z"
    assert [(f["alert_id"], f["release_reason"] or f["reason"]) for f in feed_of(api, "10")] == [
        ("D10", "no_answer_to_verification")
    ]
    assert log_of(api, "11")["D11"]["released_at"] is None
    assert queue(api, dsp) == []
    history = api.all_pages(dsp, "/v1/verifications", status="all")
    assert [(v["alert_id"], v["attempt"], v["outcome"], v["settled_at"]) for v in history] == [
        ("D10", 1, "expired", "2026-03-01T10:18:00Z"),
        ("D11", 1, "answered", "2026-03-01T10:16:00Z"),
        ("D10", 2, "no_answer", "2026-03-01T10:21:00Z"),
    ]
    admin = api.token("admin")
    explained = api.get(admin, "/v1/alerts/D10").json()
    assert [(v["attempt"], v["outcome"]) for v in explained["verifications"]] == [
        (1, "expired"),
        (2, "no_answer"),
    ]
    assert explained["release"]["reason"] == "no_answer_to_verification"
    at(api, "2026-03-01T12:00:00Z")
    assert len(api.all_pages(dsp, "/v1/verifications", status="all")) == 3  # issued once
    metrics = api.get(admin, "/metrics").text
    assert 'poagate_verification_requests_total{attempt="2"}' in metrics
    assert 'poagate_ad1_released_total{reason="no_answer_to_verification"}' in metrics
    assert "poagate_verification_queue 0.0" in metrics


def test_the_queue_is_the_dsps_and_pages_by_cursor(ticking: Api) -> None:
    api = ticking
    put_config(api, **VERIFY)
    dsp = api.token("dsp")
    suppressed(api, dsp, "10", "11", "12")
    at(api, "2026-03-01T10:15:30Z")
    first = api.get(dsp, "/v1/verifications", limit=2).json()
    assert [v["alert_id"] for v in first["items"]] == ["D10", "D11"]
    rest = api.get(dsp, "/v1/verifications", limit=2, cursor=first["next_cursor"]).json()
    assert ([v["alert_id"] for v in rest["items"]], rest["next_cursor"]) == (["D12"], None)
    assert api.get(dsp, "/v1/verifications", cursor="bm90LWEtY3Vyc29y").status_code == 400
    dno = api.token("dno", "10")
    assert api.get(dno, "/v1/verifications").status_code == 403
    admin = api.token("admin")
    assert len(api.get(admin, "/v1/verifications").json()["items"]) == 3
    item = first["items"][0]
    assert (item["chf_id"], item["esme_id"], item["requested_at"]) == (
        chf_of("10"),
        esme_of("10"),
        "2026-03-01T10:15:30Z",
    )


def test_the_settings_are_shown_and_checked(api: Api) -> None:
    shown = put_config(api, **VERIFY)
    assert (shown["verify_after_minutes"], shown["verify_attempts"]) == (10, 2)
    admin = api.token("admin")
    refused = api.client.put("/v1/config", json={"verify_attempts": 0}, headers=api.auth(admin))
    assert refused.status_code == 422
    assert "verify_attempts" in refused.text
    hook = {"dsp_webhook": {"url": "http://127.0.0.1:9/dsp", "secret": SECRET}}
    masked = put_config(api, **VERIFY, **hook)["dsp_webhook"]
    # Secrets are never shown back (docs/security.md), only that one is set.
    assert (masked["url"], masked["secret"], masked["secret_set"]) == (
        "http://127.0.0.1:9/dsp",
        None,
        True,
    )
    kept = put_config(api, **VERIFY, dsp_webhook={"url": "http://127.0.0.1:9/dsp"})
    assert kept["dsp_webhook"]["secret_set"] is True
    with open_store(api.database, "read") as store:  # the secret set before is kept
        assert store.reference.settings().model_dump()["dsp_webhook"]["secret"] == SECRET


def test_an_entry_released_by_another_guard_is_withdrawn_not_released_again(
    ticking: Api,
) -> None:
    # Area-outage releases D10 while its first request is open: the request is withdrawn.
    api = ticking
    put_config(api, **VERIFY, **AREA)
    dsp = api.token("dsp")
    suppressed(api, dsp, "10")
    at(api, "2026-03-01T10:15:30Z")
    assert queue(api, dsp) == [("D10", 1, "2026-03-01T10:18:00Z")]
    api.clock.now = ts("2026-03-01T10:16:00Z")
    for operator in ("12", "13", "14"):  # no window: forwarded, evidence for hub 10's sector
        decide(api, dsp, ad1(f"S{operator}", chf_of(operator), "2026-03-01T10:06:00Z"))
    assert log_of(api, "10")["D10"]["release_reason"] == "area_outage_evidence"
    at(api, "2026-03-01T10:16:30Z")
    assert queue(api, dsp) == []
    at(api, "2026-03-01T11:00:00Z")
    [request] = api.all_pages(dsp, "/v1/verifications", status="all")
    assert request["outcome"] == "withdrawn"
    # by the first pass after the release: at 10:16 (while the clock stood there) or 10:16:30
    assert request["settled_at"] in {"2026-03-01T10:16:00Z", "2026-03-01T10:16:30Z"}
    assert log_of(api, "10")["D10"]["release_reason"] == "area_outage_evidence"
    assert [f["alert_id"] for f in feed_of(api, "10")] == ["D10"]  # released once


def test_a_restart_between_request_and_answer_keeps_the_request(
    database: str, clock: Clock
) -> None:
    for api in make_api(database, clock, verification_poll_seconds=0.02):
        put_config(api, **VERIFY)
        dsp = api.token("dsp")
        suppressed(api, dsp, "10")
        at(api, "2026-03-01T10:15:30Z")
        assert queue(api, dsp) == [("D10", 1, "2026-03-01T10:18:00Z")]
    # A new server process on the same store: the request is still there, and answered.
    for api in make_api(database, clock, verification_poll_seconds=0.02):
        dsp = api.token("dsp")
        assert queue(api, dsp) == [("D10", 1, "2026-03-01T10:18:00Z")]
        api.clock.now = ts("2026-03-01T10:17:00Z")
        decide(api, dsp, {"type": "device_message", "device_id": esme_of("10")})
        at(api, "2026-03-01T11:00:00Z")
        assert queue(api, dsp) == []
        assert log_of(api, "10")["D10"]["released_at"] is None
        [request] = api.all_pages(dsp, "/v1/verifications", status="all")
        assert (request["outcome"], request["settled_at"]) == ("answered", "2026-03-01T10:17:00Z")


def test_the_dsps_pre_command_reply_answers_nothing(ticking: Api) -> None:
    # spec §6: the DSP's reply to a CommandVariant 4 request names the ESME, but is the DSP's.
    api = ticking
    put_config(api, **VERIFY)
    dsp = api.token("dsp")
    decide(api, dsp, activation("00-DB-12-34-56-78-90-A0", 1))
    api.clock.now = ts("2026-03-01T10:16:00Z")
    for name in ("precommand_reply.xml", "precommand_reply_without_response_id.xml"):
        body = (FIXTURES / "duis" / name).read_bytes()
        [item] = api.post(dsp, body, "application/xml").json()["items"]
        assert item["outcome"] == "ignored"


def test_new_requests_are_pushed_to_the_dsps_webhook_signed_once(
    database: str, clock: Clock, receiver: tuple[Receiver, str]
) -> None:
    rx, url = receiver
    for api in make_api(database, clock, verification_poll_seconds=0.02):
        put_config(api, **VERIFY, dsp_webhook={"url": f"{url}/dsp/x", "secret": SECRET})
        dsp = api.token("dsp")
        suppressed(api, dsp, "10", "11")
        at(api, "2026-03-01T10:15:30Z")
        at(api, "2026-03-01T10:16:00Z")
        [push] = rx.delivered()
        body = orjson.loads(push.body)
        assert [(v["alert_id"], v["attempt"]) for v in body["verifications"]] == [
            ("D10", 1),
            ("D11", 1),
        ]
        Webhook(SECRET).verify(push.body, push.headers, json_parse=False)  # raises if not
        at(api, "2026-03-01T10:18:10Z")  # the second attempts are pushed, nothing else again
        assert [len(orjson.loads(r.body)["verifications"]) for r in rx.delivered()] == [2, 2]
        with open_store(database, "read") as store:
            assert store.verifications.unpushed(10) == []


def test_a_dsp_webhook_that_trickles_delays_no_release(database: str, clock: Clock) -> None:
    """spec §16: the push to the DSP runs in a loop of its own. Its webhook trickles its answer
    a byte at a time (each push held for the 10 s deadline); meanwhile the verification pass
    asks again, expires and releases on time."""
    from tests.faults.hostile import HostileReceiver

    def verification_passes(api: Api, moment: str) -> None:
        api.clock.now = ts(moment)
        context = api.client.app.state.context  # type: ignore[attr-defined]
        wanted, give_up = context.verification_passes + 2, time.monotonic() + 8
        while context.verification_passes < wanted:
            assert time.monotonic() < give_up, "the verification pass waits for the push"
            time.sleep(0.01)

    with HostileReceiver("trickle") as trickle:
        for api in make_api(database, clock, verification_poll_seconds=0.02):
            hook = {"url": f"{trickle.url}/dsp", "secret": SECRET}
            put_config(api, **VERIFY, dsp_webhook=hook)
            dsp = api.token("dsp")
            suppressed(api, dsp, "10")
            for moment in ("10:15:30", "10:18:10", "10:21:31"):
                verification_passes(api, f"2026-03-01T{moment}Z")
            assert trickle.connections == 1  # the first push is still trickling
            assert log_of(api, "10")["D10"]["released_at"] == "2026-03-01T10:21:31Z"
