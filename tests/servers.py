"""Real ``poagate serve`` processes for tests: started on a free loopback port, stopped after."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx
import orjson
import pytest

from tests.helpers import stop_process, wait_until_ready
from tests.pg import free_port


class Server:
    def __init__(self, database: str, deliveries: bool = False) -> None:
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
            },
        )
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
