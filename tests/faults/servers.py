"""Real processes for the fault tests: ``poagate serve`` on a free loopback port, a client that
sends batches of AD1s and resends what was not answered, and the tally of what became of each.

Every address is 127.0.0.1; every loop is bounded in count and time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest

from poagate.service.access import new_token, token_sha256
from poagate.store.database import open_store
from tests.api_harness import OPERATORS, ad1, chf_of, esme_of, fleet_csv
from tests.helpers import stop_process, wait_until_ready
from tests.pg import free_port


class ServeProcess:
    """``poagate serve`` in a process of its own."""

    def __init__(self, database: str, deliveries: bool = False, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "poagate.cli", "serve", "--database", database]
        command += ["--port", str(self.port), "--log-level", "warning"]
        if not deliveries:
            command.append("--no-deliveries")
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        )
        if not wait_until_ready(self.url, self.process):
            self.stop()
            pytest.fail(f"the server did not start: {self.stderr()}")

    def stderr(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return ""
        return self.process.stderr.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no answer to what is in flight."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        stop_process(self.process)


def make_token(database: str, role: str, *operators: str) -> str:
    token = new_token()
    with open_store(database, "service") as store:
        store.tokens.add(token_sha256(token), role, list(operators), "", datetime.now(UTC), "test")
    return token


def load_fleet(url: str, admin: str) -> None:
    """The API harness's fleet: one ESME and hub per DNO area, all on the GUID list."""
    auth = {"Authorization": f"Bearer {admin}"}
    for path, body, kind in (
        ("/v1/reference/inventory", fleet_csv(), "text/csv"),
        ("/v1/reference/guid-list", "\n".join(esme_of(o) for o in OPERATORS), "text/plain"),
    ):
        answer = httpx.put(f"{url}{path}", content=body, headers={**auth, "Content-Type": kind})
        assert answer.status_code == 200, answer.text


def batch_of(prefix: str, number: int, size: int) -> list[dict[str, Any]]:
    """``size`` AD1s spread over the 14 hubs, named ``{prefix}-{number}-{n}``."""
    return [
        ad1(f"{prefix}-{number}-{n}", chf_of(OPERATORS[(number + n) % len(OPERATORS)]))
        for n in range(size)
    ]


@dataclass
class Tally:
    """What the client saw: answers by outcome, requests that failed and were resent, the
    alert_ids answered as decided (forwarded or suppressed), and when each server answered."""

    outcomes: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    retry_after: set[str] = field(default_factory=set)
    sent: set[str] = field(default_factory=set)
    decided_ids: set[str] = field(default_factory=set)
    answers: list[tuple[str, float]] = field(default_factory=list)  # (server, monotonic time)

    def answered_after(self, url: str, moment: float) -> int:
        """How many batches ``url`` answered 200 after ``moment`` (``time.monotonic``)."""
        return sum(1 for server, at in list(self.answers) if server == url and at > moment)

    def first_answer_after(self, url: str, moment: float) -> float:
        """When ``url`` first answered 200 after ``moment``; infinity if it never did."""
        times = [at for server, at in list(self.answers) if server == url and at > moment]
        return min(times, default=float("inf"))


def send_until_decided(
    urls: list[str],
    token: str,
    batch: list[dict[str, Any]],
    tally: Tally,
    seconds: float = 60,
) -> None:
    """POST ``batch`` until one server answers 200: a refused or broken connection goes to the
    next server at once, a 503 waits its Retry-After. Fails after ``seconds``."""
    body = b"\n".join(orjson.dumps(line) for line in batch)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    tally.sent.update(str(line["alert_id"]) for line in batch)
    deadline = time.monotonic() + seconds
    turn = 0
    while time.monotonic() < deadline:
        url = urls[turn % len(urls)]
        try:
            answer = httpx.post(f"{url}/v1/messages", content=body, headers=headers, timeout=30)
        except httpx.HTTPError as exc:
            tally.failures[type(exc).__name__] += 1
            turn += 1
            continue
        if answer.status_code == 503:
            tally.failures["503"] += 1
            tally.retry_after.add(answer.headers.get("retry-after", ""))
            time.sleep(min(float(answer.headers.get("retry-after", "1")), 2.0) / 4)
            continue
        assert answer.status_code == 200, answer.text
        tally.answers.append((url, time.monotonic()))
        for item in answer.json()["items"]:
            tally.outcomes[item["outcome"]] += 1
            if item["outcome"] in ("forwarded", "suppressed"):
                tally.decided_ids.add(str(item["alert_id"]))
        return
    pytest.fail(
        f"a batch was not decided in {seconds} s: answers {dict(tally.outcomes)}, "
        f"failures {dict(tally.failures)}"
    )


def outcomes_in_store(database: str) -> tuple[Counter[str], int]:
    """How many outcomes each alert_id has in the store, and the duplicates recorded."""
    with open_store(database, "read") as store:
        ids = Counter(o.alert_id for o in store.listings.ad1_outcomes())
        duplicates = store.counts()["ad1_duplicates"]
    return ids, duplicates


def each_ad1_once(database: str, tally: Tally) -> int:
    """Check the store holds every AD1 ``tally`` sent, each with exactly one outcome, every
    answered decision among them, and a duplicate for each resend of one decided before (a
    commit whose answer was lost); how many such duplicates."""
    per_alert, duplicates = outcomes_in_store(database)
    assert tally.decided_ids <= set(per_alert)  # no answered decision lost
    assert set(per_alert) == tally.sent  # every AD1 sent has an outcome, after resends
    assert set(per_alert.values()) == {1}  # none decided twice
    assert tally.outcomes["duplicate"] == duplicates  # a resend of a decided one: duplicate
    return duplicates


class SteadyLoad:
    """A steady stream of AD1 batches: ``senders`` threads, each keeping to one of ``servers``
    (so that each server's recovery is seen) and resending a batch until it is decided."""

    def __init__(
        self,
        servers: list[ServeProcess],
        dsp: str,
        prefix: str,
        tally: Tally,
        senders: int,
        size: int,
        seconds: float,
    ) -> None:
        self.servers, self.tally = servers, tally
        self._stop = threading.Event()
        self._answered = threading.Semaphore(0)

        def sender(lane: int) -> None:
            urls = [servers[lane % len(servers)].url]
            number = lane
            while not self._stop.is_set():
                send_until_decided(urls, dsp, batch_of(prefix, number, size), tally, seconds)
                self._answered.release()
                number += senders

        self._threads = [threading.Thread(target=sender, args=(n,)) for n in range(senders)]
        for thread in self._threads:
            thread.start()

    def wait_answered(self, batches: int) -> None:
        """Wait until ``batches`` more batches have been decided."""
        for _ in range(batches):
            assert self._answered.acquire(timeout=60)

    def wait_each_server_answers(self, since: float, answers: int = 5) -> None:
        """Wait (60 s at most) until every server has answered ``answers`` batches ``since``."""
        deadline = since + 60
        while time.monotonic() < deadline and not all(
            self.tally.answered_after(server.url, since) >= answers for server in self.servers
        ):
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop sending, the batches under way decided first, and check no server restarted."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in self._threads)
        for server in self.servers:
            assert server.process.poll() is None, server.stderr()
