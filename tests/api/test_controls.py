"""spec §12 incident controls over HTTP, on each backend: suspend and resume, list and end
windows, release entries (they reach the DNO as a guard's release does), and explain one
alert — every act audited and visible on what it touched."""

from __future__ import annotations

import time
from typing import Any

import orjson
from pydantic import TypeAdapter
from standardwebhooks import Webhook

from poagate.api.routes_controls import ReleaseAnswer, WindowsPage
from poagate.service.controls import WindowView
from poagate.service.explain import Explanation
from poagate.store.database import open_store
from tests.api_harness import (
    SECRET,
    Api,
    Receiver,
    activation,
    ad1,
    chf_of,
    delivering_api,
    esme_of,
)
from tests.helpers import INVENTORY_HEADER, USER, mpan
from tests.stores import on_both_backends


def rid(operator: str, counter: int = 1) -> str:
    return f"{USER}:{esme_of(operator)}:{counter}"


def decide(api: Api, *events: dict[str, Any]) -> list[dict[str, Any]]:
    answer = api.post(api.token("dsp"), list(events))
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def outcomes(api: Api, *events: dict[str, Any]) -> list[tuple[str, str]]:
    return [(i["outcome"], i.get("reason") or "") for i in decide(api, *events)]


def admin_call(api: Api, method: str, path: str, body: Any = None) -> Any:
    admin = api.token("admin")
    return api.client.request(method, path, json=body, headers=api.auth(admin))


def actions(api: Api) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = admin_call(api, "GET", "/v1/audit?limit=1000").json()["items"]
    return items


# -- suspend and resume -------------------------------------------------------------------------


def test_suspending_forwards_every_ad1_and_still_opens_windows(api: Api) -> None:
    hooks = {"delivery": {"webhooks": {"12": {"url": "http://127.0.0.1:9/", "secret": SECRET}}}}
    assert admin_call(api, "PUT", "/v1/config", {**hooks, "window_minutes": 20}).is_success
    suspended = admin_call(api, "PUT", "/v1/config", {"suppression_enabled": False}).json()
    # Only the switch changed: the window, the webhook and its secret are kept.
    assert suspended["suppression_enabled"] is False
    assert suspended["window_minutes"] == 20
    assert suspended["delivery"]["webhooks"]["12"]["url"] == "http://127.0.0.1:9/"
    with open_store(api.database, "read") as store:  # the secret is never shown: read it
        assert store.reference.settings().delivery.webhooks["12"].secret == SECRET
    opened = decide(api, activation(esme_of("12"), 1))[0]
    assert (opened["reason"], opened["window_end"]) == ("eligible", "2026-03-01T10:20:00Z")
    assert outcomes(api, ad1("S1", chf_of("12"))) == [("forwarded", "suppression_suspended")]
    state = admin_call(api, "GET", "/v1/suppression").json()
    assert (state["enabled"], state["changed_at"]) == (False, "2026-03-01T10:00:00Z")
    assert state["changed_by"].endswith("(admin)")
    assert "poagate_suppression_enabled 0.0" in admin_call(api, "GET", "/metrics").text

    api.clock.advance(minutes=1)
    resumed = admin_call(api, "PUT", "/v1/config", {"suppression_enabled": True}).json()
    assert resumed["suppression_enabled"] is True
    # The window opened while suspended suppresses at once.
    assert outcomes(api, ad1("S2", chf_of("12"))) == [("suppressed", "")]
    switches = [(e["action"], e["at"]) for e in actions(api) if e["action"].startswith("supp")]
    assert switches == [
        ("suppression.suspend", "2026-03-01T10:00:00Z"),
        ("suppression.resume", "2026-03-01T10:01:00Z"),
    ]
    dno = api.token("dno", "12")
    feed = api.get(dno, "/v1/alerts/forwarded").json()["items"]
    assert [(f["alert_id"], f["release_reason"] or f["reason"]) for f in feed] == [
        ("S1", "suppression_suspended")
    ]


def test_putting_the_switch_it_already_has_records_no_act(api: Api) -> None:
    admin_call(api, "PUT", "/v1/config", {"suppression_enabled": True})
    answer = admin_call(api, "PUT", "/v1/config", {"suppression_enabled": True}).json()
    assert answer["changed"] is False
    assert not [e for e in actions(api) if e["action"].startswith("suppression.")]


# -- windows ------------------------------------------------------------------------------------


def test_open_windows_are_listed_started_and_scheduled_but_not_closed(api: Api) -> None:
    decide(
        api,
        activation(esme_of("10"), 1),  # immediate: open until 10:30
        activation(esme_of("11"), 1, "2026-03-01T12:00:00Z"),  # scheduled
        activation(esme_of("12"), 1, "2026-03-01T12:00:00Z"),
        activation(esme_of("12"), 2, "2026-03-01T13:00:00Z"),  # supersedes the one before
    )
    api.clock.advance(minutes=40)
    decide(api, activation(esme_of("13"), 1))  # open from 10:40
    listed = admin_call(api, "GET", "/v1/windows").json()
    WindowsPage.model_validate(listed)
    assert [(w["request_id"], w["state"]) for w in listed["items"]] == [
        (rid("11"), "scheduled"),
        (rid("12", 2), "scheduled"),
        (rid("13"), "open"),
    ]
    every = admin_call(api, "GET", "/v1/windows?open=false&limit=2").json()
    assert len(every["items"]) == 2
    rest = admin_call(api, "GET", f"/v1/windows?open=false&cursor={every['next_cursor']}")
    states = [w["state"] for w in every["items"] + rest.json()["items"]]
    assert states == ["closed", "scheduled", "superseded", "scheduled", "open"]
    of_13 = admin_call(api, "GET", "/v1/windows?network_operator=13").json()["items"]
    assert [w["chf_id"] for w in of_13] == [chf_of("13")]
    dno = api.token("dno", "13")
    assert api.get(dno, "/v1/windows").status_code == 403


def test_an_ended_window_suppresses_nothing_received_after_its_end(api: Api) -> None:
    decide(api, activation(esme_of("12"), 1))
    api.clock.advance(minutes=5)
    assert outcomes(api, ad1("BEFORE", chf_of("12"))) == [("suppressed", "")]
    path = f"/v1/windows/{rid('12')}/end"
    ended = admin_call(api, "POST", path, {"note": "INC-42 real outage in the area"})
    assert ended.status_code == 200, ended.text
    WindowView(**ended.json())
    assert (ended.json()["state"], ended.json()["ended_at"]) == ("ended", "2026-03-01T10:05:00Z")
    api.clock.advance(seconds=1)
    assert outcomes(api, ad1("AFTER", chf_of("12"))) == [("forwarded", "no_active_window")]
    # An AD1 the DSP received before the end, posted later, is judged as it was received.
    late = {**ad1("BACKFILL", chf_of("12")), "received_at": "2026-03-01T10:04:00Z"}
    assert outcomes(api, late) == [("suppressed", "")]
    assert admin_call(api, "GET", "/v1/windows").json()["items"] == []
    again = admin_call(api, "POST", path)
    assert again.status_code == 409
    assert "already ended" in again.json()["detail"]
    unknown = admin_call(api, "POST", f"/v1/windows/{rid('12', 99)}/end")
    assert unknown.status_code == 404
    bad = admin_call(api, "POST", "/v1/windows/not-a-request-id/end")
    assert bad.status_code == 422
    act = next(e for e in actions(api) if e["action"] == "window.end")
    assert act["detail"]["request_id"] == rid("12")
    assert act["detail"]["note"] == "INC-42 real outage in the area"
    explained = admin_call(api, "GET", "/v1/alerts/AFTER").json()
    (window,) = explained["windows"]
    assert (window["verdict"], window["end_note"]) == ("ended", "INC-42 real outage in the area")


def test_a_window_closed_unused_cannot_be_ended(api: Api) -> None:
    decide(
        api,
        activation(esme_of("12"), 1, "2026-03-01T12:00:00Z"),
        activation(esme_of("12"), 2, "2026-03-01T13:00:00Z"),
    )
    refused = admin_call(api, "POST", f"/v1/windows/{rid('12')}/end")
    assert refused.status_code == 409
    assert "superseded" in refused.json()["detail"]


# -- releases -----------------------------------------------------------------------------------


def suppress_some(api: Api) -> None:
    decide(api, *(activation(esme_of(o), 1) for o in ("12", "13")))
    api.clock.advance(minutes=2)
    decide(api, ad1("A12-1", chf_of("12")), ad1("A12-2", chf_of("12")), ad1("A13", chf_of("13")))
    api.clock.advance(minutes=2)
    decide(api, ad1("A12-3", chf_of("12")))
    api.clock.advance(minutes=60)
    decide(api, ad1("F12", chf_of("12")))  # forwarded: the window is over


def test_releasing_by_alert_ids_forwards_the_entries_late_and_signs_them(api: Api) -> None:
    suppress_some(api)
    answer = admin_call(
        api, "POST", "/v1/releases", {"alert_ids": ["A12-2", "F12", "NOPE"], "note": "INC-7"}
    )
    assert answer.status_code == 200, answer.text
    ReleaseAnswer.model_validate(answer.json())
    assert answer.json() == {
        "released": 1,
        "already_released": 0,
        "not_in_log": ["F12", "NOPE"],
        "dry_run": False,
        "released_at": "2026-03-01T11:04:00Z",
    }
    dno = api.token("dno", "12")
    log = {e["alert_id"]: e for e in api.all_pages(dno, "/v1/suppression-log")}
    assert (log["A12-2"]["released_at"], log["A12-2"]["release_reason"]) == (
        "2026-03-01T11:04:00Z",
        "operator",
    )
    assert log["A12-1"]["released_at"] is None
    feed = api.all_pages(dno, "/v1/alerts/forwarded")
    expected = [("F12", "no_active_window"), ("A12-2", "operator")]
    assert [(f["alert_id"], f["release_reason"] or f["reason"]) for f in feed] == expected
    released = api.all_pages(dno, "/v1/suppression-log", released="true")
    assert [e["alert_id"] for e in released] == ["A12-2"]
    explained = api.get(dno, "/v1/alerts/A12-2").json()
    assert explained["release"]["note"] == "INC-7"
    assert explained["release"]["released_by"].endswith("(admin)")
    act = next(e for e in actions(api) if e["action"] == "release")
    assert (act["detail"]["released"], act["detail"]["alert_ids"]) == (
        1,
        ["A12-2", "F12", "NOPE"],
    )
    twice = admin_call(api, "POST", "/v1/releases", {"alert_ids": ["A12-2"]}).json()
    assert (twice["released"], twice["already_released"]) == (0, 1)


def test_releasing_by_hub_or_by_dno_and_range(api: Api) -> None:
    suppress_some(api)
    by_hub = admin_call(api, "POST", "/v1/releases", {"chf_id": chf_of("13").lower()}).json()
    assert by_hub["released"] == 1
    ranged = {
        "network_operator": "12",
        "from": "2026-03-01T10:00:00Z",
        "to": "2026-03-01T10:03:00Z",
    }
    dry = admin_call(api, "POST", "/v1/releases", {**ranged, "dry_run": True}).json()
    assert (dry["released"], dry["dry_run"]) == (2, True)
    assert [e for e in actions(api) if e["action"] == "release"][-1]["detail"]["chf_id"] == (
        chf_of("13")
    )  # the dry run recorded nothing
    done = admin_call(api, "POST", "/v1/releases", ranged).json()
    assert done["released"] == 2
    dno = api.token("dno", "12")
    log = {e["alert_id"]: e["release_reason"] for e in api.all_pages(dno, "/v1/suppression-log")}
    assert log == {"A12-1": "operator", "A12-2": "operator", "A12-3": None}


def test_a_release_names_its_entries_one_way(api: Api) -> None:
    for body, words in (
        ({"alert_ids": ["A"], "chf_id": chf_of("12")}, "one way"),
        ({"network_operator": "12", "from": "2026-03-01T10:00:00Z"}, "both from and to"),
        ({}, "one way"),
        ({"alert_ids": []}, "alert_ids"),
        (
            {"network_operator": "1", "from": "2026-03-01T10:00:00Z", "to": "2026-03-02T10:00:00Z"},
            "two-digit",
        ),
        ({"chf_id": "hub"}, "Device ID"),
        ({"chf_id": chf_of("12"), "from": "yesterday"}, "from"),
    ):
        refused = admin_call(api, "POST", "/v1/releases", body)
        assert refused.status_code == 422, body
        assert words in refused.json()["detail"], (body, refused.json())
    dno = api.token("dno", "12")
    refused = api.client.post("/v1/releases", json={"alert_ids": ["A"]}, headers=api.auth(dno))
    assert refused.status_code == 403


def test_a_release_with_the_guards_off_reaches_the_dno_webhook(
    empty_sqlite: str, receiver: tuple[Receiver, str]
) -> None:
    """The guards are off, yet the suppressed AD1's message is kept (held) for the DNO's
    webhook, so an operator's release pushes its original bytes."""
    rx, url = receiver
    with delivering_api(empty_sqlite, esme_of("12")) as api:
        hooks = {"webhooks": {"12": {"url": f"{url}/dno/12", "secret": SECRET}}}
        assert admin_call(api, "PUT", "/v1/config", {"delivery": hooks}).is_success
        decide(api, activation(esme_of("12"), 1))
        line = orjson.dumps(ad1("H12", chf_of("12")))
        answer = api.post(api.token("dsp"), line, "application/json").json()
        assert answer["counts"] == {"suppressed": 1}
        api.background_passes("delivery")
        assert rx.receipts == []  # held while suppressed
        with open_store(empty_sqlite, "read") as store:
            assert store.outbox.counts() == {"held": 1}
        admin_call(api, "POST", "/v1/releases", {"alert_ids": ["H12"]})
        deadline = time.monotonic() + 20
        while [r.alert_id for r in rx.delivered()] != ["H12"]:
            assert time.monotonic() < deadline, "the released AD1 was not delivered"
            time.sleep(0.02)
        # It arrives as a release (spec §18): the DNO can tell it is late, and why.
        (receipt,) = rx.delivered()
        Webhook(SECRET).verify(receipt.body, receipt.headers, json_parse=False)
        payload = orjson.loads(receipt.body)
        assert payload["type"] == "ad1.released"
        data = payload["data"]
        assert data["message"] == orjson.loads(line)
        assert (data["alert_id"], data["esme_id"], data["mpan"]) == (
            "H12",
            esme_of("12"),
            mpan("12"),
        )
        assert data["reason"] == "firmware_activation_window"
        assert data["release_reason"] == "operator"
        assert data["decided_at"] < data["released_at"] <= payload["timestamp"]
        assert data["activation_request_id"] == f"{USER}:{esme_of('12')}:1"
        assert data["window_start"] < data["window_end"]
        explained = admin_call(api, "GET", "/v1/alerts/H12").json()
        assert explained["delivery"]["status"] == "delivered"


# -- explain ------------------------------------------------------------------------------------


def test_explain_says_why_an_alert_was_suppressed_or_forwarded(api: Api) -> None:
    decide(api, activation(esme_of("12"), 1))
    api.clock.advance(minutes=3)
    decide(api, ad1("S12", chf_of("12"), "2026-03-01T10:02:00Z"))
    decide(api, ad1("S12", chf_of("12")))  # a repeat
    decide(api, {"type": "device_message", "device_id": esme_of("12")})
    decide(api, ad1("F12", chf_of("12"), "2026-03-01T09:00:00Z"))  # before the window
    admin = api.token("admin")
    suppressed = api.get(admin, "/v1/alerts/S12").json()
    TypeAdapter(Explanation).validate_python(suppressed)  # what the OpenAPI schema says
    assert (suppressed["outcome"], suppressed["reason"]) == (
        "suppressed",
        "firmware_activation_window",
    )
    assert suppressed["duplicates"] == 1
    assert suppressed["routing"] == {
        "network_operator": "12",
        "esme_id": esme_of("12"),
        "mpan": suppressed["routing"]["mpan"],
        "source": "activation",
    }
    (window,) = suppressed["windows"]
    assert (window["request_id"], window["reason"], window["verdict"], window["suppressed_it"]) == (
        rid("12"),
        "eligible",
        "contains",
        True,
    )
    assert suppressed["release_if_dark"]["signs"] == ["2026-03-01T10:03:00Z"]
    assert suppressed["area_outage"]["sector"] == "SW1A 1"
    forwarded = api.get(admin, "/v1/alerts/F12").json()
    assert (forwarded["outcome"], forwarded["reason"]) == ("forwarded", "no_active_window")
    assert forwarded["windows"][0]["verdict"] == "outside"
    assert forwarded["routing"]["source"] == "inventory"
    assert forwarded["routing"]["esme_id"] == esme_of("12")


def test_a_dno_explains_only_its_own_alerts(api: Api) -> None:
    decide(api, activation(esme_of("12"), 1))
    decide(api, ad1("S12", chf_of("12")), ad1("F13", chf_of("13")))
    own = api.token("dno", "12")
    assert api.get(own, "/v1/alerts/S12").status_code == 200
    foreign = api.get(own, "/v1/alerts/F13")
    unknown = api.get(own, "/v1/alerts/NO-SUCH")
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json()["detail"] == unknown.json()["detail"]
    assert foreign.json()["title"] == unknown.json()["title"]
    assert api.get(api.token("dsp"), "/v1/alerts/S12").status_code == 403
    # The feed keeps its path: /v1/alerts/forwarded is not an alert id.
    assert "items" in api.get(own, "/v1/alerts/forwarded").json()


@on_both_backends  # the store's scoped read of the hub's windows
def test_a_dnos_explanation_shows_no_activation_recorded_under_another_operator(
    api: Api,
) -> None:
    # The hub's meter was in area 12 when its firmware was activated, then its MPAN was
    # corrected to area 13: the hub's next AD1 goes to DNO 13, whose explanation of it must
    # not show DNO 12's activation (spec §10: nothing of another DNO).
    decide(api, activation(esme_of("12"), 1))
    moved = f"upsert,{esme_of('12')},ESME,SMETS2,LANDIS+GYR,,{chf_of('12')},{mpan('13')},,"
    changes = f"change,{INVENTORY_HEADER}\n{moved}\n"
    admin = api.token("admin")
    answer = api.client.post(
        "/v1/reference/inventory/changes",
        content=changes,
        headers={**api.auth(admin), "Content-Type": "text/csv"},
    )
    assert answer.status_code == 200, answer.text
    api.clock.advance(hours=2)
    (item,) = decide(api, ad1("F13", chf_of("12")))
    assert (item["outcome"], item["network_operator"]) == ("forwarded", "13")
    assert [w["request_id"] for w in api.get(admin, "/v1/alerts/F13").json()["windows"]] == [
        rid("12")
    ]
    explained = api.get(api.token("dno", "13"), "/v1/alerts/F13").json()
    assert explained["windows"] == []


def test_a_dnos_explanation_shows_no_evidence_of_other_operators(api: Api) -> None:
    admin_call(api, "PUT", "/v1/config", {"area_outage_threshold": 5})
    decide(api, ad1("F13", chf_of("13")), ad1("F14", chf_of("14")), ad1("F12", chf_of("12")))
    decide(api, activation(esme_of("12"), 1))
    decide(api, ad1("S12", chf_of("12")))
    everything = admin_call(api, "GET", "/v1/alerts/S12").json()["area_outage"]
    assert sorted(a["alert_id"] for a in everything["alerts"]) == ["F13", "F14"]
    dno = api.token("dno", "12")
    own = api.get(dno, "/v1/alerts/S12").json()["area_outage"]
    assert (own["alerts"], own["only_own_operators"]) == ([], True)
    assert "F13" not in api.get(dno, "/v1/alerts/S12").text
