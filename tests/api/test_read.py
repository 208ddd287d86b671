"""Reading the Suppression Log, the pull feed, activations and summaries; and the isolation of
each DNO, as a matrix over all 14 DNO areas."""

from __future__ import annotations

import csv
import io

import pytest

from tests.api_harness import OPERATORS, Api, activation, ad1, chf_of, cursor_of, esme_of
from tests.helpers import USER, mpan


def populate(api: Api) -> None:
    """In every DNO area: an activation, two suppressed AD1s, three forwarded ones."""
    dsp = api.token("dsp")
    assert api.post(dsp, [activation(esme_of(o), 1) for o in OPERATORS]).status_code == 200
    api.clock.advance(minutes=3)
    events = []
    for o in OPERATORS:
        events += [ad1(f"S{o}-{k}", chf_of(o)) for k in range(2)]
    assert api.post(dsp, events).json()["counts"] == {"suppressed": 28}
    api.clock.advance(minutes=60)
    events = []
    for o in OPERATORS:
        events += [ad1(f"F{o}-{k}", chf_of(o)) for k in range(3)]
    assert api.post(dsp, events).json()["counts"] == {"forwarded": 42}


def test_log_pages_follow_the_cursor_to_the_end(api: Api) -> None:
    populate(api)
    admin = api.token("admin")
    whole = api.get(admin, "/v1/suppression-log", limit=1000).json()
    assert whole["next_cursor"] is None
    paged = api.all_pages(admin, "/v1/suppression-log", limit=3)
    assert paged == whole["items"]
    assert len(paged) == 28


def test_log_filters(api: Api) -> None:
    populate(api)
    admin = api.token("admin")
    by_chf = api.all_pages(admin, "/v1/suppression-log", chf_id=chf_of("15").lower())
    assert [e["alert_id"] for e in by_chf] == ["S15-0", "S15-1"]
    by_mpan = api.all_pages(admin, "/v1/suppression-log", mpan=mpan("16"))
    assert [e["alert_id"] for e in by_mpan] == ["S16-0", "S16-1"]
    rid = f"{USER}:{esme_of('17')}:0001"
    by_request = api.all_pages(admin, "/v1/suppression-log", request_id=rid)
    assert [e["alert_id"] for e in by_request] == ["S17-0", "S17-1"]
    window = api.all_pages(
        admin,
        "/v1/suppression-log",
        **{"from": "2026-03-01T10:03:00Z", "to": "2026-03-01T10:03:00.000001Z"},
    )
    assert len(window) == 28
    assert api.all_pages(admin, "/v1/suppression-log", **{"from": "2026-03-01T10:04:00Z"}) == []
    bad = api.get(admin, "/v1/suppression-log", chf_id="hub")
    assert bad.status_code == 422
    assert "not a Device ID" in bad.json()["detail"]


def test_log_as_csv_by_accept_or_format(api: Api) -> None:
    populate(api)
    dno = api.token("dno", "19")
    for response in (
        api.get(dno, "/v1/suppression-log", accept="text/csv"),
        api.get(dno, "/v1/suppression-log", format="csv"),
    ):
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert [r["alert_id"] for r in rows] == ["S19-0", "S19-1"]
        assert rows[0]["window_end"] == "2026-03-01T10:30:00Z"
    first = api.get(dno, "/v1/suppression-log", format="csv", limit=1)
    assert first.headers["x-next-cursor"] == cursor_of("S19-0")


def test_forwarded_feed_lets_a_dno_catch_up(api: Api) -> None:
    populate(api)
    dno = api.token("dno", "20")
    first = api.get(dno, "/v1/alerts/forwarded", limit=1).json()
    assert [a["alert_id"] for a in first["items"]] == ["F20-0"]
    # The DNO goes away; more alerts arrive; it comes back with the cursor it had.
    api.post(api.token("dsp"), [ad1("LATE-20", chf_of("20")), ad1("LATE-21", chf_of("21"))])
    rest = api.get(dno, "/v1/alerts/forwarded", cursor=first["next_cursor"]).json()
    assert [a["alert_id"] for a in rest["items"]] == ["F20-1", "F20-2", "LATE-20"]
    assert rest["next_cursor"] is None


def test_activations_are_listed_for_admin_with_filters(api: Api) -> None:
    dsp, admin = api.token("dsp"), api.token("admin")
    api.post(
        dsp,
        [
            activation(esme_of("10"), 1, "2026-03-02T02:00:00Z"),
            activation(esme_of("10"), 2, "2026-03-02T03:00:00Z"),
            activation(esme_of("11"), 3),
        ],
    )
    everything = api.all_pages(admin, "/v1/activations", limit=1)
    assert [a["request_id"].rsplit(":", 1)[1] for a in everything] == ["1", "2", "3"]
    superseded = api.all_pages(admin, "/v1/activations", status="superseded")
    assert [a["request_id"] for a in superseded] == [f"{USER}:{esme_of('10')}:1"]
    device = api.all_pages(admin, "/v1/activations", device_id=esme_of("11").lower())
    assert [a["kind"] for a in device] == ["immediate"]


@pytest.mark.parametrize("operator", OPERATORS)
def test_a_dno_sees_exactly_its_own_and_nothing_of_the_others(api: Api, operator: str) -> None:
    populate(api)
    dno = api.token("dno", operator)
    others = [o for o in OPERATORS if o != operator]

    log = api.all_pages(dno, "/v1/suppression-log", limit=1)
    assert [e["alert_id"] for e in log] == [f"S{operator}-0", f"S{operator}-1"]
    assert {e["network_operator"] for e in log} == {operator}
    feed = api.all_pages(dno, "/v1/alerts/forwarded", limit=2)
    assert [a["alert_id"] for a in feed] == [f"F{operator}-{k}" for k in range(3)]
    csv_text = api.get(dno, "/v1/suppression-log", format="csv").text
    assert all(f"S{o}-" not in csv_text for o in others)
    summary = api.get(dno, "/v1/summary").json()
    assert summary == {
        "network_operators": [operator],
        "from": None,
        "to": None,
        "ad1_suppressed": 2,
        "ad1_released": 0,
        "ad1_forwarded": 3,
        "by_network_operator": {operator: {"suppressed": 2, "released": 0, "forwarded": 3}},
    }

    other = others[0]
    # Filters naming another DNO's hub, meter, activation or operator find nothing.
    for params in (
        {"chf_id": chf_of(other)},
        {"mpan": mpan(other)},
        {"request_id": f"{USER}:{esme_of(other)}:1"},
        {"network_operator": other},
    ):
        response = api.get(dno, "/v1/suppression-log", **params)
        assert response.status_code == 200
        assert response.json() == {"items": [], "next_cursor": None}
    assert api.get(dno, "/v1/alerts/forwarded", network_operator=other).json()["items"] == []
    # Another DNO's cursor, and a cursor naming nothing, are refused alike.
    foreign = api.get(dno, "/v1/suppression-log", cursor=cursor_of(f"S{other}-0"))
    unknown = api.get(dno, "/v1/suppression-log", cursor=cursor_of("NO-SUCH-ALERT"))
    assert foreign.status_code == unknown.status_code == 400
    assert foreign.json()["detail"] == unknown.json()["detail"]
    assert f"S{other}" not in foreign.text
    feed_cursor = api.get(dno, "/v1/alerts/forwarded", cursor=cursor_of(f"F{other}-0"))
    assert feed_cursor.status_code == 400
    # What only admin may read is refused without a word about its contents.
    for path in (
        "/v1/activations",
        "/v1/config",
        "/v1/deliveries",
        "/v1/audit",
        "/v1/reference/guid-list/versions",
    ):
        refused = api.get(dno, path)
        assert refused.status_code == 403
        assert "needs the role admin" in refused.json()["detail"]


def test_a_dno_bound_to_several_operators_sees_all_of_them(api: Api) -> None:
    populate(api)
    dno = api.token("dno", "12", "13")
    log = api.all_pages(dno, "/v1/suppression-log")
    assert sorted(e["alert_id"] for e in log) == ["S12-0", "S12-1", "S13-0", "S13-1"]
    summary = api.get(dno, "/v1/summary").json()
    assert (summary["ad1_suppressed"], summary["ad1_forwarded"]) == (4, 6)
    only_13 = api.all_pages(dno, "/v1/suppression-log", network_operator="13")
    assert [e["alert_id"] for e in only_13] == ["S13-0", "S13-1"]


def test_admin_summary_counts_everything(api: Api) -> None:
    populate(api)
    summary = api.get(api.token("admin"), "/v1/summary").json()
    assert (summary["ad1_suppressed"], summary["ad1_forwarded"]) == (28, 42)
    assert summary["activations_eligible"] == 14
    assert summary["by_network_operator"]["23"] == {"suppressed": 2, "forwarded": 3}


def test_the_dsp_reads_nothing_back(api: Api) -> None:
    populate(api)
    dsp = api.token("dsp")
    for path in (
        "/v1/suppression-log",
        "/v1/alerts/forwarded",
        "/v1/summary",
        "/v1/activations",
        "/v1/config",
    ):
        assert api.get(dsp, path).status_code == 403
