"""Real ``poagate serve`` processes for tests: started on a free loopback port, stopped after."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.helpers import stop_process, wait_until_ready
from tests.pg import free_port


class Server:
    def __init__(
        self,
        database: str,
        deliveries: bool = False,
        wait: bool = True,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        """Start ``poagate serve`` on ``database`` (with ``args`` besides); ``wait=False``
        returns at once (then call ``ready``), to start several side by side. ``env`` adds to
        its environment (a ``PYTHONPATH`` runs another release's code)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "poagate.cli",
                "serve",
                "--database",
                database,
                "--port",
                str(self.port),
                *([] if deliveries else ["--no-deliveries"]),
                "--log-level",
                "warning",
                *args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # The release-if-dark and verification passes often, to see two servers act once.
            env={
                **os.environ,
                "PYTHONUNBUFFERED": "1",
                "POAGATE_RELEASE_POLL_SECONDS": "0.1",
                "POAGATE_VERIFICATION_POLL_SECONDS": "0.1",
                "POAGATE_DELIVERY_POLL_SECONDS": "0.1",
                **(env or {}),
            },
        )
        if wait:
            self.ready()

    def ready(self) -> None:
        """Wait until it answers; fail the test if it does not start."""
        if not wait_until_ready(self.url, self.process):
            self.stop()
            pytest.fail(f"the server did not start: {self.stderr()}")

    def stderr(self) -> str:
        if self.process.poll() is None:
            return ""
        assert self.process.stderr is not None
        return self.process.stderr.read().decode()

    def stop(self) -> None:
        stop_process(self.process)


@contextlib.contextmanager
def two_servers(database: str) -> Iterator[tuple[Server, Server]]:
    """Two ``poagate serve`` processes on one store, started side by side (each takes over a
    second to start), stopped after."""
    first, second = Server(database, wait=False), Server(database, wait=False)
    try:
        first.ready()
        second.ready()
        yield first, second
    finally:
        first.stop()
        second.stop()


def post(url: str, token: str, body: Any) -> dict[str, Any]:
    answer = httpx.post(
        f"{url}/v1/messages",
        content=orjson.dumps(body),
        timeout=30,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result
