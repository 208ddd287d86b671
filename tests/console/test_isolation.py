"""spec §10 in the console: a DNO's session shows its own operators' data and nothing of
another DNO's — in any page, link, export, chart, count or error. Each check looks for real
ids: present for the DNO they belong to, absent for the other."""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient

from tests.api_harness import cursor_of
from tests.console.conftest import FORWARDED, SUPPRESSED, Console, alert_ids

ALL_IDS = {a for ids in (*SUPPRESSED.values(), *FORWARDED.values()) for a in ids}


def every_id_in(text: str) -> set[str]:
    return {a for a in ALL_IDS if a in text}


def own_and_others(operator: str) -> tuple[set[str], set[str]]:
    own = set(SUPPRESSED[operator]) | set(FORWARDED[operator])
    return own, ALL_IDS - own


def pages(browser: TestClient) -> dict[str, str]:
    """Every page a DNO can reach, with the filters and links a curious one might try."""
    paths = [
        "/ui/",
        "/ui/?released=false",
        "/ui/?network_operator=12",
        "/ui/?network_operator=13",
        "/ui/?from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z",
        "/ui/feed",
        "/ui/feed?network_operator=12",
        "/ui/feed?network_operator=13",
        "/ui/export.csv",
        "/ui/export.csv?network_operator=13",
        "/ui/export.csv?network_operator=12",
    ]
    answers = {path: browser.get(path) for path in paths}
    assert all(a.status_code == 200 for a in answers.values()), answers
    return {path: a.text for path, a in answers.items()}


@pytest.mark.parametrize("operator", ["12", "13"])
def test_a_dno_sees_its_own_entries_and_none_of_the_others(console: Console, operator: str) -> None:
    own, others = own_and_others(operator)
    browser = console.dno(operator)
    shown = pages(browser)
    everywhere = "".join(shown.values())
    assert every_id_in(everywhere) == own
    assert not every_id_in(everywhere) & others
    assert alert_ids(shown["/ui/"]) == set(SUPPRESSED[operator])
    assert alert_ids(shown["/ui/feed"]) == set(FORWARDED[operator])
    rows = list(csv.DictReader(io.StringIO(shown["/ui/export.csv"])))
    assert {r["alert_id"] for r in rows} == set(SUPPRESSED[operator])
    assert {r["network_operator"] for r in rows} == {operator}


def test_the_chart_counts_only_the_dnos_own_alerts(console: Console) -> None:
    for operator in ("12", "13"):
        page = console.dno(operator).get("/ui/").text
        bars = dict(re.findall(r'data-series="(\w+)" data-count="(\d+)"', page))
        assert bars == {
            "suppressed": str(len(SUPPRESSED[operator])),
            "released": "0",
            "forwarded": str(len(FORWARDED[operator])),
        }
    admin = console.admin().get("/ui/").text
    bars = dict(re.findall(r'data-series="(\w+)" data-count="(\d+)"', admin))
    assert bars == {"suppressed": "3", "released": "0", "forwarded": "2"}


def test_another_dnos_alert_is_not_found_like_an_unknown_one(console: Console) -> None:
    browser = console.dno("12")
    own = browser.get("/ui/alerts/S-12-a")
    assert own.status_code == 200
    assert 'data-outcome="suppressed"' in own.text
    others = browser.get("/ui/alerts/S-13-a")
    unknown = browser.get("/ui/alerts/NO-SUCH-ALERT")
    assert others.status_code == unknown.status_code == 404
    assert others.text == unknown.text.replace("NO-SUCH-ALERT", "S-13-a")
    assert "S-13-a" not in others.text  # not even the asked id echoed back
    assert console.dno("13").get("/ui/alerts/S-13-a").status_code == 200


def test_a_cursor_of_another_dnos_entry_is_refused_like_a_bad_one(console: Console) -> None:
    browser = console.dno("12")
    others = browser.get(f"/ui/?cursor={cursor_of('S-13-a')}")
    garbage = browser.get(f"/ui/?cursor={cursor_of('NO-SUCH')}")
    assert others.status_code == garbage.status_code == 400
    message = re.search(r'role="alert">([^<]*)<', others.text)
    assert message is not None
    assert message.group(1) == re.search(r'role="alert">([^<]*)<', garbage.text).group(1)  # type: ignore[union-attr]
    assert not every_id_in(others.text)


def test_admin_pages_refuse_a_dno_without_data(console: Console) -> None:
    browser = console.dno("12")
    for path in ("/ui/windows", "/ui/deliveries", "/ui/reference", "/ui/config", "/ui/audit"):
        answer = browser.get(path)
        assert answer.status_code == 403, path
        assert "for DCC operations" in answer.text
        assert not every_id_in(answer.text)
        assert "esme" not in answer.text.lower()


def test_admin_sees_every_dnos_log(console: Console) -> None:
    browser = console.admin()
    assert alert_ids(browser.get("/ui/").text) == {a for v in SUPPRESSED.values() for a in v}
    assert alert_ids(browser.get("/ui/?network_operator=13").text) == set(SUPPRESSED["13"])
    assert alert_ids(browser.get("/ui/feed").text) == {a for v in FORWARDED.values() for a in v}
