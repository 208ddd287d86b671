"""The console under test: the API's harness (tests/api_harness.py) with a few decided AD1s of
two DNOs, and browsers (test clients with their own cookies) signed in to it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from poagate.store.access import AuditEntry
from poagate.store.database import open_store
from tests.api_harness import Api, Clock, activation, ad1, chf_of, decide, esme_of, make_api
from tests.stores import harness_database  # noqa: F401 - this folder's `database`

# What each DNO has: forwarded before its window opened, then suppressed in it.
SUPPRESSED = {"12": ["S-12-a", "S-12-b"], "13": ["S-13-a"]}
FORWARDED = {"12": ["F-12"], "13": ["F-13"]}


@dataclass
class Console:
    api: Api

    def browser(self, base_url: str = "http://testserver") -> TestClient:
        """A browser of its own (its own cookies) on the running application."""
        return TestClient(self.api.client.app, base_url=base_url, follow_redirects=False)

    def sign_in(self, token: str, base_url: str = "http://testserver") -> TestClient:
        browser = self.browser(base_url)
        answer = browser.post("/ui/login", data={"token": token})
        assert answer.status_code == 303, answer.text
        return browser

    def admin(self) -> TestClient:
        return self.sign_in(self.api.token("admin"))

    def dno(self, *operators: str) -> TestClient:
        return self.sign_in(self.api.token("dno", *operators))

    def audit(self) -> list[AuditEntry]:
        with open_store(self.api.database, "read") as store:
            return store.audit.entries(0, 10_000)

    def store(self) -> Any:
        return open_store(self.api.database, "read")


def csrf_of(browser: TestClient, path: str = "/ui/") -> str:
    page = browser.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def alert_ids(html: str) -> set[str]:
    return set(re.findall(r'data-alert-id="([^"]+)"', html))


def seed(api: Api) -> None:
    dsp = api.token("dsp")
    for operator in ("12", "13"):
        decide(api, dsp, *(ad1(a, chf_of(operator)) for a in FORWARDED[operator]))
        decide(api, dsp, activation(esme_of(operator), 1))
        decide(api, dsp, *(ad1(a, chf_of(operator)) for a in SUPPRESSED[operator]))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def console(database: str, clock: Clock) -> Iterator[Console]:
    for api in make_api(database, clock):
        seed(api)
        yield Console(api)
