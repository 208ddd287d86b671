"""The console's pages: the Suppression Log's filters (a filtered view is a link), its pages,
its CSV download, bad input shown as a message (never a 500), and escaping."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

from poagate.store.database import open_store
from poagate.store.outbox import OutboundMessage
from tests.api_harness import activation, ad1, chf_of, decide, esme_of
from tests.console.conftest import SUPPRESSED, Console, alert_ids
from tests.helpers import USER, mpan, ts

NOW = ts("2026-03-01T12:00:00Z")


def test_the_filters_are_a_link_and_select_entries(console: Console) -> None:
    browser = console.admin()
    chf = chf_of("13")
    assert alert_ids(browser.get(f"/ui/?chf_id={chf}").text) == set(SUPPRESSED["13"])
    request = f"{USER}:{esme_of('12')}:1"
    assert alert_ids(browser.get(f"/ui/?request_id={request}").text) == set(SUPPRESSED["12"])
    assert alert_ids(browser.get(f"/ui/?mpan={mpan('13')}").text) == set(SUPPRESSED["13"])
    assert alert_ids(browser.get("/ui/?released=true").text) == set()
    assert len(alert_ids(browser.get("/ui/?released=false").text)) == 3
    assert alert_ids(browser.get("/ui/?from=2026-03-01T10:00:01Z").text) == set()
    page = browser.get(f"/ui/?chf_id={chf}&released=false").text
    # The filters are shown back, and the download link carries them.
    assert f'value="{chf}"' in page
    link = re.search(r'<a data-export="csv" href="([^"]+)"', page)
    assert link is not None
    assert "chf_id=00-15-7B-00-00-00-00-13" in link.group(1)
    assert "released=false" in link.group(1)


def test_the_download_is_the_whole_filtered_range_as_one_csv(console: Console) -> None:
    api = console.api
    dsp = api.token("dsp")
    many = [f"M-{n:03}" for n in range(120)]  # more than a page (50) of the log
    decide(api, dsp, *(ad1(a, chf_of("12")) for a in many))
    browser = console.dno("12")
    answer = browser.get("/ui/export.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == (
        'attachment; filename="suppression-log-12.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["alert_id"] for r in rows] == [*SUPPRESSED["12"], *many]
    filtered = browser.get("/ui/export.csv?from=2026-03-01T10:00:00Z&to=2026-03-02T00:00:00Z")
    assert filtered.headers["content-disposition"] == (
        'attachment; filename="suppression-log-12-from-20260301T100000Z-to-20260302T000000Z.csv"'
    )
    assert len(list(csv.DictReader(io.StringIO(filtered.text)))) == 122


def test_pages_follow_the_apis_cursor(console: Console) -> None:
    api = console.api
    many = [f"M-{n:03}" for n in range(120)]
    decide(api, api.token("dsp"), *(ad1(a, chf_of("12")) for a in many))
    browser = console.dno("12")
    seen: list[str] = []
    path = "/ui/?released=false"
    while path:
        page = browser.get(path).text
        seen += re.findall(r'<tr data-alert-id="([^"]+)"', page)
        found = re.search(r'<a rel="next" href="([^"]+)"', page)
        path = found.group(1).replace("&amp;", "&") if found else ""
        if found:
            assert "released=false" in path  # the next page keeps the filters
    assert seen == [*SUPPRESSED["12"], *many]


def test_bad_filters_give_the_page_with_a_message(console: Console) -> None:
    browser = console.dno("12")
    cases = {
        "/ui/?from=yesterday": "from",
        "/ui/?to=2026-13-01T00:00:00Z": "to",
        "/ui/?mpan=12": "MPAN",
        "/ui/?chf_id=hub": "",
        "/ui/?released=maybe": "released must be true, false or empty",
        "/ui/?cursor=%%%": "cursor",
        "/ui/?cursor=" + "A" * 5000: "cursor",
        "/ui/?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z": "to must be after from",
        "/ui/export.csv?from=yesterday": "from",
        "/ui/feed?from=yesterday": "from",
        "/ui/feed?cursor=bad": "cursor",
        "/ui/feed?network_operator=999": "",
    }
    for path, words in cases.items():
        answer = browser.get(path)
        assert answer.status_code in (400, 422), (path, answer.status_code)
        assert answer.headers["content-type"].startswith("text/html")
        message = re.search(r'<p class="message" role="alert">([^<]+)</p>', answer.text)
        assert message is not None, path
        assert words.lower() in message.group(1).lower(), (path, message.group(1))
    for path in ("/ui/deliveries?after_id=x", "/ui/audit?after_seq=-1", "/ui/windows?cursor=x"):
        assert console.admin().get(path).status_code in (200, 400), path


def test_everything_shown_is_escaped(console: Console) -> None:
    api = console.api
    hostile = '<script>alert("x")</script>&'
    decide(api, api.token("dsp"), ad1(hostile, chf_of("12")))
    browser = console.dno("12")
    for path in ("/ui/", f"/ui/?request_id={hostile}", "/ui/alerts/x<b>"):
        page = browser.get(path).text
        assert "<script>" not in page
    log = browser.get("/ui/").text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;" in log


def test_an_explanation_names_the_window_that_suppressed_it(console: Console) -> None:
    api = console.api
    decide(api, api.token("dsp"), activation(esme_of("14"), 7), ad1("E-14", chf_of("14")))
    page = console.dno("14").get("/ui/alerts/E-14").text
    assert 'data-outcome="suppressed"' in page
    assert f'data-request-id="{USER}:{esme_of("14")}:7" class="mark"' in page
    assert "(suppressed it)" in page


def test_the_chart_is_on_the_first_page_only(console: Console) -> None:
    api = console.api
    decide(api, api.token("dsp"), *(ad1(f"M-{n:03}", chf_of("12")) for n in range(60)))
    browser = console.dno("12")
    first = browser.get("/ui/").text
    assert 'data-chart="daily"' in first
    found = re.search(r'<a rel="next" href="([^"]+)"', first)
    assert found is not None
    second = browser.get(found.group(1).replace("&amp;", "&")).text
    assert 'data-chart="daily"' not in second
    assert len(alert_ids(second)) == 62 - 50


def test_the_reference_page_names_the_guid_list_in_force_after_a_rollback(
    console: Console, tmp_path: Path
) -> None:
    from poagate.service.reference.acts import load_guid_list_act, rollback_guid_list

    smaller = tmp_path / "guid.txt"
    smaller.write_text(f"{esme_of('10')}\n")
    with open_store(console.api.database, "service") as store:
        load_guid_list_act(store, smaller, NOW, "guid.txt", "test", force=True)
        assert "In force: version 2." in console.admin().get("/ui/reference").text
        rollback_guid_list(store, NOW, "test", 1)
    assert "In force: version 1." in console.admin().get("/ui/reference").text


def test_a_dnos_explanation_shows_its_delivery_with_a_generic_error_only(console: Console) -> None:
    """spec §16, §18: what the connection met is a port-scan oracle for whoever controls the
    webhook name's DNS; the outbox's number counts every DNO's deliveries."""
    api = console.api
    decide(api, api.token("dsp"), ad1("G-12", chf_of("12")))
    with open_store(api.database, "service") as store:
        message = OutboundMessage("G-12", "12", chf_of("12"), "application/json", b"{}", "pending")
        store.outbox.enqueue([message], api.clock())
        (claimed,) = store.outbox.claim(api.clock(), timedelta(seconds=30), 1)
        store.outbox.failed(claimed.id, "ConnectError: refused by 10.9.8.7:6543", api.clock())
    page = console.dno("12").get("/ui/alerts/G-12").text
    assert "pending, 1 attempts (last error: the last attempt failed)" in page
    assert "10.9.8.7" not in page
