"""The API on a store holding the harness's fleet (SQLite: tests/conftest.py says why), with a
clock the tests set; the harness itself is in tests/api_harness.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from poagate.service.access import new_token, token_sha256
from poagate.store.database import open_store
from tests.api_harness import Api, Clock, make_api
from tests.servers import Server
from tests.servers import two_servers as servers_on
from tests.stores import harness_database  # noqa: F401 - this folder's `database`


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
def two_servers(database: str) -> Iterator[tuple[Server, Server]]:
    """Two ``poagate serve`` processes on one store (which holds the fleet already)."""
    with servers_on(database) as both:
        yield both
