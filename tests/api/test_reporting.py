"""Reporting for DNO systems (spec §12): the summary by range and by day, scoped to the caller;
the whole filtered Suppression Log as one streamed CSV; the forwarded feed by range."""

from __future__ import annotations

import csv
import io
from typing import Any

from poagate.service.export import csv_chunks
from poagate.store.alerts.listings import OutcomeFilter
from poagate.store.database import open_store
from tests.api_harness import Api, activation, ad1, chf_of, esme_of


def decide(api: Api, *events: dict[str, Any]) -> None:
    assert api.post(api.token("dsp"), list(events)).status_code == 200


def three_days(api: Api) -> None:
    """1 March: 12 suppresses two (one released later), forwards one; 13 forwards one.
    2 March: nothing. 3 March: 12 forwards one."""
    decide(api, activation(esme_of("12"), 1))
    decide(api, ad1("S1", chf_of("12")), ad1("S2", chf_of("12")), ad1("F13", chf_of("13")))
    api.clock.advance(hours=1)
    decide(api, ad1("F1", chf_of("12")))
    api.clock.advance(hours=30)  # 2 March 17:00: the release is counted on S1's day
    admin = api.token("admin")
    released = api.client.post("/v1/releases", json={"alert_ids": ["S1"]}, headers=api.auth(admin))
    assert released.json()["released"] == 1
    api.clock.advance(hours=24)
    decide(api, ad1("F3", chf_of("12")))


def test_a_dno_summary_by_day_counts_each_ad1_on_the_day_it_was_received(api: Api) -> None:
    three_days(api)
    dno = api.token("dno", "12")
    answer = api.get(
        dno,
        "/v1/summary",
        bucket="day",
        **{"from": "2026-03-01T00:00:00Z", "to": "2026-03-04T00:00:00Z"},
    ).json()
    assert answer["days"] == [
        {"day": "2026-03-01", "suppressed": 2, "released": 1, "forwarded": 1},
        {"day": "2026-03-02", "suppressed": 0, "released": 0, "forwarded": 0},
        {"day": "2026-03-03", "suppressed": 0, "released": 0, "forwarded": 1},
    ]
    assert (answer["ad1_suppressed"], answer["ad1_released"], answer["ad1_forwarded"]) == (2, 1, 2)
    assert answer["network_operators"] == ["12"]
    assert set(answer["by_network_operator"]) == {"12"}  # nothing of 13, not even a zero


def test_a_summary_range_selects_by_received_at(api: Api) -> None:
    three_days(api)
    dno = api.token("dno", "12")
    first = api.get(
        dno, "/v1/summary", **{"from": "2026-03-01T10:30:00Z", "to": "2026-03-03T00:00:00Z"}
    )
    assert (first.json()["ad1_suppressed"], first.json()["ad1_forwarded"]) == (0, 1)
    assert "days" not in first.json()
    admin = api.token("admin")
    whole = api.get(admin, "/v1/summary", bucket="day").json()
    assert [d["day"] for d in whole["days"]] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert whole["by_network_operator"]["13"] == {"suppressed": 0, "released": 0, "forwarded": 1}
    only_13 = api.get(admin, "/v1/summary", bucket="day", network_operator="13").json()
    assert only_13["ad1_forwarded"] == 1
    assert api.get(dno, "/v1/summary", network_operator="13").json()["ad1_forwarded"] == 0
    for params in (
        {"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
        {"bucket": "week"},
        {"bucket": "day", "from": "2000-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
    ):
        assert api.get(dno, "/v1/summary", **params).status_code == 422, params


def test_the_whole_filtered_log_downloads_as_one_csv(api: Api) -> None:
    decide(api, activation(esme_of("12"), 1), activation(esme_of("13"), 1))
    decide(api, *(ad1(f"S12-{n:04}", chf_of("12")) for n in range(1500)), ad1("S13", chf_of("13")))
    api.clock.advance(minutes=1)
    decide(api, ad1("LATER", chf_of("12")))
    dno = api.token("dno", "12")
    answer = api.get(
        dno, "/v1/suppression-log", format="csv", all="true", to="2026-03-01T10:01:00Z"
    )
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == (
        'attachment; filename="suppression-log-12-to-20260301T100100Z.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["alert_id"] for r in rows] == [f"S12-{n:04}" for n in range(1500)]
    by_accept = api.get(dno, "/v1/suppression-log", all="true", accept="text/csv")
    assert by_accept.text.count("\n") == 1 + 1501
    assert api.get(dno, "/v1/suppression-log", all="true").status_code == 422
    after = api.get(
        dno, "/v1/suppression-log", format="csv", all="true", cursor=_cursor("S12-1497")
    )
    assert [r["alert_id"] for r in csv.DictReader(io.StringIO(after.text))] == [
        "S12-1498",
        "S12-1499",
        "LATER",
    ]
    foreign = api.get(dno, "/v1/suppression-log", format="csv", all="true", cursor=_cursor("S13"))
    assert foreign.status_code == 400


def _cursor(alert_id: str) -> str:
    import base64

    return base64.urlsafe_b64encode(alert_id.encode()).decode().rstrip("=")


def test_a_download_reads_in_chunks_and_holds_every_entry_once(api: Api) -> None:
    decide(api, activation(esme_of("12"), 1))
    decide(api, *(ad1(f"S{n}", chf_of("12")) for n in range(7)))
    with open_store(api.database, "read") as store:

        def borrow() -> Any:
            import contextlib

            return contextlib.nullcontext(store)

        chunks = list(csv_chunks(borrow, OutcomeFilter(suppressed=True), chunk=3))
    assert len(chunks) == 1 + 3  # the header, then 3 + 3 + 1 entries
    rows = list(csv.DictReader(io.StringIO("".join(chunks))))
    assert [r["alert_id"] for r in rows] == [f"S{n}" for n in range(7)]


def test_the_feed_takes_a_range_of_received_at(api: Api) -> None:
    decide(api, ad1("F1", chf_of("12")))
    api.clock.advance(hours=2)
    decide(api, ad1("F2", chf_of("12")))
    api.clock.advance(hours=2)
    decide(api, ad1("F3", chf_of("12")))
    dno = api.token("dno", "12")
    window = {"from": "2026-03-01T12:00:00Z", "to": "2026-03-01T14:00:00Z"}
    assert [f["alert_id"] for f in api.all_pages(dno, "/v1/alerts/forwarded", **window)] == ["F2"]
    since = api.all_pages(dno, "/v1/alerts/forwarded", limit=1, **{"from": "2026-03-01T12:00:00Z"})
    assert [f["alert_id"] for f in since] == ["F2", "F3"]
    assert api.get(dno, "/v1/alerts/forwarded", to="soon").status_code == 422
