"""The API on each backend, with a clock the tests set, and a DNO's webhook receiver; the
harness itself is in tests/api_harness.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from poagate.service.access import new_token, token_sha256
from poagate.store.database import open_store
from tests.api_harness import OPERATORS, Api, Clock, esme_of, fleet_csv, make_api
from tests.servers import Server


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api(database: str, clock: Clock) -> Iterator[Api]:
    yield from make_api(database, clock)


@pytest.fixture
def token_for(database: str) -> Any:
    def make(role: str, *operators: str) -> str:
        token = new_token()
        with open_store(database, "service") as store:
            store.tokens.add(
                token_sha256(token), role, list(operators), "", datetime.now(UTC), "test"
            )
        return token

    return make


@pytest.fixture
def two_servers(database: str, token_for: Any) -> Iterator[tuple[Server, Server]]:
    open_store(database, "service").close()  # created and migrated once, before both start
    first, second = Server(database), Server(database)
    admin = token_for("admin")
    loaded = httpx.put(
        f"{first.url}/v1/reference/inventory",
        content=fleet_csv(),
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "text/csv"},
    )
    assert loaded.status_code == 200, loaded.text
    guid = "\n".join(esme_of(o) for o in OPERATORS)
    httpx.put(
        f"{second.url}/v1/reference/guid-list",
        content=guid,
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "text/plain"},
    )
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()
