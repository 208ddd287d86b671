"""The webhook client's request path imports nothing it has to search for (pyproject.toml,
``sniffio``: httpcore imports it in each request's lock set-up, and an import that fails is
searched for on every path again each time — 9% of a delivering server's CPU in the soak)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType

import httpcore


class Searches(MetaPathFinder):
    """Notes each module the import system searches for (it finds none itself)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        self.names.append(fullname)
        return None


def test_a_request_lock_of_the_webhook_client_searches_for_no_module() -> None:
    async def lock_set_up() -> None:
        # What httpcore does for each request of a connection pool (AsyncEvent, AsyncLock).
        for _ in range(3):
            event = httpcore._synchronization.AsyncEvent()
            event.set()
            await event.wait()

    asyncio.run(lock_set_up())  # the first time may import what it needs, once
    searches = Searches()
    sys.meta_path.insert(0, searches)
    try:
        asyncio.run(lock_set_up())
    finally:
        sys.meta_path.remove(searches)
    assert searches.names == []
