"""The API on each backend, with a clock the tests set, and a DNO's webhook receiver; the
harness itself is in tests/api_harness.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api_harness import Api, Clock, make_api


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api(database: str, clock: Clock) -> Iterator[Api]:
    yield from make_api(database, clock)
