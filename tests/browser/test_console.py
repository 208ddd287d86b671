"""spec §13 in a browser: sign-in and sign-out, a wrong token, the filters, the CSV download,
the chart, every admin action (release, end a window, suspend and resume, retry a dead
delivery), CSRF refusal — and no page requests another host (checked after every test by the
``visit`` fixture)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.api_harness import chf_of, esme_of, wait_until
from tests.browser.conftest import FORWARDED, SUPPRESSED, Site, Visit
from tests.helpers import USER

pytestmark = pytest.mark.slow


def sign_in(page: Page, site: Site, token: str) -> None:
    page.goto(f"{site.url}/ui/")
    assert page.url == f"{site.url}/ui/login"  # no session yet: sent to sign in
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.url}/ui/")


def rows(page: Page, selector: str = "table.log tbody tr[data-alert-id]") -> list[str]:
    return [row.get_attribute("data-alert-id") or "" for row in page.locator(selector).all()]


def test_sign_in_shows_the_dnos_log_and_sign_out_ends_it(visit: Visit, site: Site) -> None:
    page = visit.page
    sign_in(page, site, site.tokens["dno12"])
    assert rows(page) == SUPPRESSED["12"]
    assert page.get_by_role("navigation", name="Console pages").is_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "poagate_console")
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/ui")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/ui/login\?why=signed-out$"))
    assert page.get_by_text("You are signed out.").is_visible()
    page.goto(f"{site.url}/ui/")  # the cookie is gone: no page without signing in again
    assert page.url == f"{site.url}/ui/login"


def test_a_wrong_token_gets_a_message_and_no_session(visit: Visit, site: Site) -> None:
    page = visit.page
    page.goto(f"{site.url}/ui/login")
    page.get_by_label("API token").fill("pg_" + "n" * 43)
    with page.expect_response(f"{site.url}/ui/login") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 401
    assert page.get_by_role("alert").inner_text().startswith("That token is not valid")
    assert not page.context.cookies()


def test_a_dsp_token_is_told_the_console_is_not_for_it(visit: Visit, site: Site) -> None:
    page = visit.page
    page.goto(f"{site.url}/ui/login")
    page.get_by_label("API token").fill(site.tokens["dsp"])
    page.get_by_role("button", name="Sign in").click()
    assert "for DNOs and DCC operations" in page.locator("[data-refusal]").inner_text()
    assert not page.context.cookies()


def test_the_filters_make_a_link(visit: Visit, site: Site) -> None:
    page = visit.page
    sign_in(page, site, site.tokens["admin"])
    page.get_by_label("Hub (CHF id)").fill(chf_of("13"))
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r".*chf_id=00-15-7B-00-00-00-00-13.*"))
    assert rows(page) == SUPPRESSED["13"]
    link = page.url
    page.goto(f"{site.url}/ui/")
    page.goto(link)  # the filtered view is a link
    assert rows(page) == SUPPRESSED["13"]
    assert page.get_by_label("Hub (CHF id)").input_value() == chf_of("13")
    page.get_by_label("Activation request id").fill(f"{USER}:{esme_of('12')}:1")
    page.get_by_label("Hub (CHF id)").fill("")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r".*request_id=.*"))
    assert rows(page) == SUPPRESSED["12"]
    page.get_by_label("Received from", exact=True).fill("not a time")
    page.get_by_role("button", name="Filter").click()
    assert "from" in page.get_by_role("alert").inner_text()
    assert rows(page) == []


def test_the_csv_download_holds_the_whole_filtered_range(
    visit: Visit, site: Site, tmp_path: Path
) -> None:
    page = visit.page
    sign_in(page, site, site.tokens["dno12"])
    with page.expect_download() as download:
        page.locator("a[data-export=csv]").click()
    assert download.value.suggested_filename == "suppression-log-12.csv"
    saved = tmp_path / "log.csv"
    download.value.save_as(saved)
    entries = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert [e["alert_id"] for e in entries] == SUPPRESSED["12"]
    assert {e["network_operator"] for e in entries} == {"12"}
    assert {e["rule"] for e in entries} == {"firmware_activation_window"}


def test_the_daily_chart_shows_the_dnos_own_counts(visit: Visit, site: Site) -> None:
    page = visit.page
    sign_in(page, site, site.tokens["dno13"])
    chart = page.locator("svg[data-chart=daily]")
    assert chart.is_visible()
    box = chart.bounding_box()
    assert box is not None
    assert 300 < box["width"] <= 1280
    assert chart.locator("title").first.text_content().startswith("Suppressed, released")  # type: ignore[union-attr]
    counts = {
        bar.get_attribute("data-series"): int(bar.get_attribute("data-count") or -1)
        for bar in chart.locator("rect[data-series]").all()
    }
    assert counts == {"suppressed": 1, "released": 0, "forwarded": 1}
    assert "S-12" not in page.content()
    assert FORWARDED["12"][0] not in page.content()


def test_release_selected_entries(visit: Visit, site: Site) -> None:
    page = visit.page
    sign_in(page, site, site.tokens["admin"])
    page.goto(f"{site.url}/ui/?chf_id={chf_of('14')}")
    assert rows(page) == SUPPRESSED["14"]
    page.get_by_label("Select S-14-a").check()
    page.get_by_role("button", name="Release selected").click()
    assert "Released 1 entries" in page.locator("[data-done]").inner_text()
    page.goto(f"{site.url}/ui/?chf_id={chf_of('14')}&released=true")
    assert rows(page) == ["S-14-a"]
    page.goto(f"{site.url}/ui/alerts/S-14-a")
    assert "(operator) by token" in page.locator(".facts").inner_text()


def test_release_a_hubs_entries(visit: Visit, site: Site) -> None:
    page = visit.page
    sign_in(page, site, site.tokens["admin"])
    page.get_by_label("Every entry of hub").fill(chf_of("14"))
    page.get_by_role("button", name="Release hub").click()
    assert re.search(r"Released \d entries", page.locator("[data-done]").inner_text())
    page.goto(f"{site.url}/ui/?chf_id={chf_of('14')}&released=false")
    assert rows(page) == []


def test_end_a_window(visit: Visit, site: Site) -> None:
    page = visit.page
    sign_in(page, site, site.tokens["admin"])
    page.goto(f"{site.url}/ui/windows")
    request_id = f"{USER}:{esme_of('15')}:1"
    row = page.locator(f'tr[data-request-id="{request_id}"]')
    assert row.is_visible()
    row.get_by_role("button", name=f"End the window of {request_id}").click()
    assert page.locator("[data-done]").inner_text().startswith(f"The window of {request_id}")
    page.goto(f"{site.url}/ui/windows")
    assert page.locator(f'tr[data-request-id="{request_id}"]').count() == 0
    assert page.locator("tr[data-request-id]").count() >= 2  # 12's and 13's are still open


def test_suspend_and_resume(visit: Visit, site: Site) -> None:
    page = visit.page
    sign_in(page, site, site.tokens["admin"])
    page.goto(f"{site.url}/ui/reference")
    page.get_by_label("Why").first.fill("browser test")
    page.get_by_role("button", name="Suspend suppression").click()
    page.wait_for_url(f"{site.url}/ui/reference")  # back where it was
    switch = page.locator("[data-suppression]")
    assert switch.get_attribute("data-suppression") == "suspended"
    page.goto(f"{site.url}/ui/audit")
    assert page.locator("[data-suppression]").get_attribute("data-suppression") == "suspended"
    assert page.locator('tr[data-action="suppression.suspend"]').count() == 1
    assert site.admin_call("GET", "/v1/suppression").json()["enabled"] is False
    page.get_by_role("button", name="Resume suppression").click()
    assert page.locator("[data-suppression]").get_attribute("data-suppression") == "enabled"
    assert site.admin_call("GET", "/v1/suppression").json()["enabled"] is True


def test_retry_a_dead_delivery(visit: Visit, site: Site) -> None:
    page = visit.page
    sign_in(page, site, site.tokens["admin"])

    def dead_shown() -> bool:
        page.goto(f"{site.url}/ui/deliveries?status=dead")
        return page.locator('tr[data-alert-id="F-13"]').count() == 1

    wait_until(dead_shown, "F-13's delivery to die (its webhook refuses)")
    page.locator('tr[data-alert-id="F-13"]').get_by_role("button", name=re.compile("Retry")).click()
    assert "will be sent again" in page.locator("[data-done]").inner_text()
    page.goto(f"{site.url}/ui/audit")
    assert page.locator('tr[data-action="delivery.retry"]').count() >= 1


def test_a_form_with_a_wrong_csrf_token_is_refused(visit: Visit, site: Site) -> None:
    page = visit.page
    sign_in(page, site, site.tokens["admin"])
    page.goto(f"{site.url}/ui/windows")
    page.locator(".switch input[name=csrf]").evaluate("input => { input.value = 'forged' }")
    with page.expect_response(f"{site.url}/ui/suppression") as answer:
        page.get_by_role("button", name="Suspend suppression").click()
    assert answer.value.status == 403
    assert "nothing was done" in page.locator("[data-refusal]").inner_text()
    assert site.admin_call("GET", "/v1/suppression").json()["enabled"] is True


def test_every_page_is_served_by_poagate_alone(visit: Visit, site: Site) -> None:
    """Every page and asset comes from the server (the fixture checks each request's host),
    and the layout holds on a phone's screen."""
    page = visit.page
    sign_in(page, site, site.tokens["admin"])
    for path in ("/ui/", "/ui/feed", "/ui/windows", "/ui/deliveries", "/ui/reference",
                 "/ui/config", "/ui/audit", "/ui/alerts/S-12-a", "/docs"):  # fmt: skip
        answer = page.goto(f"{site.url}{path}")
        assert answer is not None
        assert answer.status == 200, path
    page.goto(f"{site.url}/ui/feed")
    feed = rows(page, "tr[data-alert-id]")
    assert feed[:2] == ["F-12", "F-13"]  # then any entry released by the tests before
    assert set(feed[2:]) <= set(SUPPRESSED["14"])
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{site.url}/ui/")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1  # no sideways scrolling of the page (tables scroll in their box)
    assert any(request.endswith("/ui/static/console.css") for request in visit.requests)
