"""``POST /v1/messages`` on SQLite and PostgreSQL: decisions, items, durability, errors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from poagate.sim import duis
from poagate.store.database import open_store
from tests.api_harness import Api, activation, ad1, chf_of, esme_of
from tests.helpers import USER, duis_template, ts
from tests.stores import on_both_backends


def test_activation_then_ad1_in_its_window_is_suppressed(api: Api) -> None:
    dsp = api.token("dsp")
    answer = api.post(dsp, activation(esme_of("12"), 1))
    assert answer.status_code == 200, answer.text
    (item,) = answer.json()["items"]
    assert item["outcome"] == "recorded"
    assert item["reason"] == "eligible"
    assert item["window_start"] == "2026-03-01T10:00:00Z"
    assert item["window_end"] == "2026-03-01T10:30:00Z"
    api.clock.advance(minutes=4)
    answer = api.post(dsp, ad1("A1", chf_of("12"), "2026-03-01T10:01:00Z")).json()
    assert answer["counts"] == {"suppressed": 1}
    assert answer["items"][0]["activation_request_id"] == f"{USER}:{esme_of('12')}:1"
    api.clock.advance(minutes=40)
    assert api.post(dsp, ad1("A2", chf_of("12"))).json()["items"][0] == {
        "position": 1,
        "outcome": "forwarded",
        "alert_id": "A2",
        "network_operator": "12",
        "reason": "no_active_window",
    }


def test_duis_xml_is_decided_with_the_server_time(api: Api) -> None:
    dsp = api.token("dsp")
    xml = duis.activate_firmware(f"{USER}:{esme_of('14')}:7")
    answer = api.post(dsp, xml, "application/xml").json()
    assert answer["received_at"] == "2026-03-01T10:00:00Z"
    assert answer["items"][0]["reason"] == "eligible"
    alert = duis.ad1_alert("D-1", chf_of("14"), ts("2026-03-01T10:02:00Z"))
    assert api.post(dsp, alert, "text/xml").json()["counts"] == {"suppressed": 1}
    real = duis_template("11.1_UPDATE_FIRMWARE_REQUEST_DUIS.XML").read_bytes()
    ignored = api.post(dsp, real, "application/xml").json()["items"][0]
    assert ignored == {"position": 1, "outcome": "ignored", "what": "DUIS request 11.1"}


def test_ndjson_batch_answers_every_item_by_position(api: Api) -> None:
    dsp = api.token("dsp")
    body = "\n".join(
        [
            '{"type":"activation","request_id":"' + f"{USER}:{esme_of('16')}:1" + '"}',
            "",
            '{"type":"ad1","alert_id":"B1","chf_id":"' + chf_of("16") + '"}',
            "{not json",
            '{"type":"ad1","alert_id":"B1","chf_id":"' + chf_of("16") + '"}',
            '{"type":"device_message","device_id":"' + esme_of("16") + '"}',
            '{"type":"ad1","alert_id":"B2","chf_id":"hub"}',
        ]
    )
    answer = api.post(dsp, body, "application/x-ndjson").json()
    outcomes = [(i["position"], i["outcome"]) for i in answer["items"]]
    assert outcomes == [
        (1, "recorded"),
        (3, "suppressed"),
        (4, "rejected"),
        (5, "duplicate"),
        (6, "recorded"),
        (7, "rejected"),
    ]
    assert "not valid JSON" in answer["items"][2]["error"]
    assert "chf_id: 'hub' is not a Device ID" in answer["items"][5]["error"]
    assert answer["counts"] == {"recorded": 2, "suppressed": 1, "rejected": 2, "duplicate": 1}


def test_rejected_items_are_kept_with_where_they_came_from(api: Api) -> None:
    dsp = api.token("dsp")
    answer = api.post(dsp, "{broken\n", "application/x-ndjson")
    request_id = answer.headers["x-request-id"]
    with open_store(api.database, "read") as store:
        rejected = list(store.inputs.rejected())
    assert [(r.source, r.line, r.raw) for _, r in rejected] == [
        (f"POST /v1/messages {request_id}", 1, "{broken")
    ]


def test_only_the_dsp_may_supply_received_at(api: Api) -> None:
    dsp, admin = api.token("dsp"), api.token("admin")
    backfill = {**ad1("C1", chf_of("18")), "received_at": "2026-02-27T08:00:00Z"}
    assert api.post(dsp, backfill).json()["items"][0]["outcome"] == "forwarded"
    with open_store(api.database, "read") as store:
        (outcome,) = list(store.listings.ad1_outcomes())
    assert outcome.received_at == ts("2026-02-27T08:00:00Z")
    assert outcome.decided_at == ts("2026-03-01T10:00:00Z")  # decided now, by the server clock
    refused = api.post(admin, {**backfill, "alert_id": "C2"}).json()["items"][0]
    assert refused["outcome"] == "rejected"
    assert "received_at may be supplied only by the DSP" in refused["error"]
    assert api.post(admin, ad1("C3", chf_of("18"))).json()["items"][0]["outcome"] == "forwarded"


@on_both_backends  # a commit another connection sees
def test_decisions_are_durable_before_the_answer(api: Api) -> None:
    dsp = api.token("dsp")
    answer = api.post(dsp, [ad1(f"E{n}", chf_of("20")) for n in range(50)])
    assert answer.json()["counts"] == {"forwarded": 50}
    # A separate connection, opened after the answer, sees all fifty.
    with open_store(api.database, "read") as store:
        assert store.counts()["ad1_forwarded"] == 50


def test_concurrent_requests_each_get_their_own_answers(api: Api) -> None:
    dsp = api.token("dsp")

    def send(n: int) -> dict[str, object]:
        result: dict[str, object] = api.post(
            dsp, [ad1(f"P{n}-{k}", chf_of("21")) for k in range(5)]
        ).json()
        return result

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(40)))
    for n, answer in enumerate(answers):
        items = answer["items"]
        assert isinstance(items, list)
        assert [i["alert_id"] for i in items] == [f"P{n}-{k}" for k in range(5)]
    with open_store(api.database, "read") as store:
        assert store.counts()["ad1_forwarded"] == 200


def test_same_alert_in_concurrent_requests_gets_one_outcome(api: Api) -> None:
    dsp = api.token("dsp")
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda _: api.post(dsp, ad1("SAME", chf_of("22"))).json(), range(16))
        )
    outcomes = sorted(a["items"][0]["outcome"] for a in answers)
    assert outcomes == ["duplicate"] * 15 + ["forwarded"]
    with open_store(api.database, "read") as store:
        assert store.counts()["ad1_received"] == 16
        assert store.counts()["ad1_forwarded"] == 1


def test_errors_are_problem_documents(api: Api) -> None:
    dsp = api.token("dsp")
    for body, content_type, status, text in [
        ("", "application/json", 400, "the request has no message"),
        ("<x/>", "text/plain", 415, "Content-Type text/plain is not one poagate reads"),
        ("{}", "", 415, "is not one poagate reads"),
    ]:
        answer = api.post(dsp, body, content_type)
        assert answer.status_code == status
        assert answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert text in problem["detail"]
        assert problem["instance"] == "/v1/messages"
        assert problem["request_id"] == answer.headers["x-request-id"]


def test_request_id_is_echoed_when_sensible(api: Api) -> None:
    dsp = api.token("dsp")
    headers = {**api.auth(dsp), "Content-Type": "application/json", "X-Request-ID": "dsp-42"}
    answer = api.client.post(
        "/v1/messages",
        content=b'{"type":"ad1","alert_id":"R","chf_id":"' + chf_of("10").encode() + b'"}',
        headers=headers,
    )
    assert answer.headers["x-request-id"] == "dsp-42"
    assert answer.json()["request_id"] == "dsp-42"
    headers["X-Request-ID"] = "no spaces or <tags> please"
    other = api.client.post("/v1/messages", content=b"{}", headers=headers)
    assert other.headers["x-request-id"] != headers["X-Request-ID"]
