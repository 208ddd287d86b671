"""The delivery worker's calls into its store run in threads; a shutdown cancels the worker and
then closes the store, so a cancelled call must end before the cancellation goes on (a SQLite
connection closed under a running statement crashed a test server's process)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from poagate.delivery.worker import in_thread


def test_a_cancelled_call_ends_before_the_cancellation_goes_on() -> None:
    events: list[str] = []
    go_on = threading.Event()

    def call() -> int:
        events.append("started")
        go_on.wait(5)
        events.append("finished")
        return 1

    async def main() -> None:
        task = asyncio.create_task(in_thread(call))
        while not events:
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.sleep(0.1)
        assert not task.done()  # the cancellation waits for the call
        go_on.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        events.append("cancelled")

    asyncio.run(main())
    assert events == ["started", "finished", "cancelled"]


def test_a_call_gives_its_answer_and_its_error() -> None:
    assert asyncio.run(in_thread(lambda: 41 + 1)) == 42

    def fails() -> None:
        raise ValueError("the store said no")

    with pytest.raises(ValueError, match="the store said no"):
        asyncio.run(in_thread(fails))
