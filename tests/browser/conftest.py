"""The console in a real browser: Debian's chromium driven by Playwright, against a real
``poagate serve`` on loopback with a database of its own — one server and one browser per
module. Every request a page makes is recorded; each test ends by checking that none went to
another host than the server's."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from poagate.service.access import new_token, token_sha256
from poagate.store.database import open_store
from tests.api_harness import (
    OPERATORS,
    SECRET,
    activation,
    ad1,
    chf_of,
    esme_of,
    fleet_csv,
)
from tests.browser.chromium import launch
from tests.servers import Server, post


@dataclass
class Site:
    """The running server, its tokens, and what was decided on it."""

    url: str
    database: str
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, role: str, *operators: str) -> str:
        token = new_token()
        with open_store(self.database, "service") as store:
            store.tokens.add(
                token_sha256(token), role, sorted(operators), "browser test", datetime.now(UTC),
                "test",
            )  # fmt: skip
        return token

    def admin_call(self, method: str, path: str, body: object = None) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.tokens['admin']}"},
            timeout=30,
        )


# What the server holds: for DNOs 12 and 13 an AD1 forwarded before its window and AD1s
# suppressed in it; hub 14's entries are for the release, hub 15's window for the end action.
# DNO 13's webhook refuses every delivery and the worker gives up at once: a dead letter.
SUPPRESSED = {"12": ["S-12-a", "S-12-b"], "13": ["S-13-a"], "14": ["S-14-a", "S-14-b"]}
FORWARDED = {"12": ["F-12"], "13": ["F-13"]}


def seed(site: Site) -> None:
    admin = site.tokens["admin"]
    for path, body, kind in (
        ("/v1/reference/inventory", fleet_csv(), "text/csv"),
        ("/v1/reference/guid-list", "".join(f"{esme_of(o)}\n" for o in OPERATORS), "text/plain"),
    ):
        loaded = httpx.put(
            f"{site.url}{path}",
            content=body,
            headers={"Authorization": f"Bearer {admin}", "Content-Type": kind},
            timeout=60,
        )
        assert loaded.status_code == 200, loaded.text
    refused = {"url": "http://127.0.0.1:9/", "secret": SECRET}  # the discard port: refused
    config = {
        "delivery": {"webhooks": {"13": refused}, "max_attempts": 1, "backoff_seconds": 0.1},
        "window_minutes": 120,
    }
    assert site.admin_call("PUT", "/v1/config", config).status_code == 200
    dsp = site.token("dsp")
    events = []
    for operator in ("12", "13", "14"):
        events += [ad1(a, chf_of(operator)) for a in FORWARDED.get(operator, [])]
        events += [activation(esme_of(operator), 1)]
        events += [ad1(a, chf_of(operator)) for a in SUPPRESSED[operator]]
    events.append(activation(esme_of("15"), 1))
    for event in events:
        decided = post(site.url, dsp, event)["items"]
        assert decided, event
        assert "error" not in decided[0], decided


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    database = f"sqlite:///{tmp_path_factory.mktemp('console') / 'poagate.db'}"
    open_store(database, "service", schema="create").close()
    server = Server(database, deliveries=True)
    try:
        site = Site(server.url, database)
        site.tokens = {
            "admin": site.token("admin"),
            "dno12": site.token("dno", "12"),
            "dno13": site.token("dno", "13"),
            "dsp": site.token("dsp"),
        }
        seed(site)
        yield site
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Visit:
    """A page in a fresh browser context (no cookies), with every request it made."""

    page: Page
    requests: list[str]


@pytest.fixture
def visit(browser: Browser, site: Site) -> Iterator[Visit]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        yield Visit(page, requests)
    finally:
        with contextlib.suppress(Exception):
            context.close()
    hosts = {urlsplit(url).hostname for url in requests}
    assert requests, "the test made no request"
    assert hosts == {"127.0.0.1"}, f"a page requested another host: {sorted(requests)}"
