"""Real server processes: two on one database, and a graceful shutdown."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from poagate.store.database import open_store
from tests.api_harness import ad1, chf_of, esme_of
from tests.helpers import USER
from tests.servers import Server, post
from tests.stores import on_both_backends

pytestmark = [pytest.mark.slow, on_both_backends]  # several processes on one store


def test_two_servers_receiving_the_same_alert_at_once_give_one_outcome(
    two_servers: tuple[Server, Server], token_for: Any, database: str
) -> None:
    first, second = two_servers
    dsp = token_for("dsp")
    # An activation through one server; its window must be seen by the other.
    assert post(first.url, dsp, {"type": "activation", "request_id": f"{USER}:{esme_of('12')}:1"})[
        "counts"
    ] == {"recorded": 1}
    alerts = [ad1(f"TWICE-{n}", chf_of("12" if n % 2 else "13")) for n in range(120)]
    barrier = threading.Barrier(2)

    def both(alert: dict[str, Any]) -> tuple[str, str]:
        results: list[str] = []

        def one(url: str) -> None:
            barrier_wait(barrier)
            results.append(post(url, dsp, alert)["items"][0]["outcome"])

        threads = [threading.Thread(target=one, args=(u,)) for u in (first.url, second.url)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results[0], results[1]

    with ThreadPoolExecutor(1) as pool:  # one alert at a time, sent to both servers at once
        outcomes = list(pool.map(both, alerts))
    for n, pair in enumerate(outcomes):
        expected = "suppressed" if n % 2 else "forwarded"
        assert sorted(pair) == sorted(["duplicate", expected]), (n, pair)
    with open_store(database, "read") as store:
        counts = store.counts()
    assert (counts["ad1_suppressed"], counts["ad1_forwarded"], counts["ad1_duplicates"]) == (
        60,
        60,
        120,
    )


def barrier_wait(barrier: threading.Barrier) -> None:
    try:
        barrier.wait(timeout=10)
    except threading.BrokenBarrierError:
        barrier.reset()


def test_graceful_shutdown_answers_the_requests_in_flight(database: str, token_for: Any) -> None:
    server = Server(database)
    try:
        dsp = token_for("dsp")
        batch = b"\n".join(orjson.dumps(ad1(f"BIG-{n}", chf_of("10"))) for n in range(20_000))
        answers: list[httpx.Response] = []

        def send() -> None:
            answers.append(
                httpx.post(
                    f"{server.url}/v1/messages",
                    content=batch,
                    timeout=120,
                    headers={
                        "Authorization": f"Bearer {dsp}",
                        "Content-Type": "application/x-ndjson",
                    },
                )
            )

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(0.5)  # the batch is being decided
        server.process.send_signal(signal.SIGTERM)
        sender.join(timeout=120)
        # uvicorn ends a graceful shutdown by re-raising the signal it was stopped with.
        assert server.process.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        server.stop()
    (answer,) = answers
    assert answer.status_code == 200
    assert answer.json()["counts"] == {"forwarded": 20_000}
    with open_store(database, "read") as store:
        assert store.counts()["ad1_forwarded"] == 20_000


def passes_of(url: str, admin: str, metric: str = "poagate_release_passes_total") -> float:
    """How many passes of a kind a server has completed, from its /metrics."""
    metrics = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {admin}"})
    for line in metrics.text.splitlines():
        if line.startswith(f"{metric} "):
            return float(line.split()[1])
    raise AssertionError(f"no {metric} in /metrics")


def test_two_servers_release_a_dark_entry_once(
    two_servers: tuple[Server, Server], token_for: Any, database: str
) -> None:
    """Release-if-dark on the wall clock: a window that began two hours ago (a future-dated
    activation executed then), an AD1 in it, and a hub silent since: due at once."""
    first, second = two_servers
    admin = token_for("admin")
    switched = httpx.put(
        f"{second.url}/v1/config",
        json={"release_after_minutes": 60},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert switched.status_code == 200, switched.text
    dsp = token_for("dsp")
    suppressed_long_ago(first.url, first.url, dsp, "DARK-1")

    def released() -> int:
        with open_store(database, "read") as store:
            return store.counts()["ad1_released"]

    # The passes run every 0.1 s here (POAGATE_RELEASE_POLL_SECONDS; the default is 5 s).
    deadline = time.monotonic() + 4
    while released() == 0:
        assert time.monotonic() < deadline, "no server released the entry"
        time.sleep(0.05)
    admin = token_for("admin")
    for server in two_servers:  # two more passes of each server
        passes = passes_of(server.url, admin)
        deadline = time.monotonic() + 10
        while passes_of(server.url, admin) < passes + 2:
            assert time.monotonic() < deadline, "a server stopped running its passes"
            time.sleep(0.05)
    assert released() == 1
    dno = token_for("dno", "12")
    feed = httpx.get(
        f"{first.url}/v1/alerts/forwarded", headers={"Authorization": f"Bearer {dno}"}
    ).json()["items"]
    reached = [(f["alert_id"], f["release_reason"] or f["reason"]) for f in feed]
    assert reached == [("DARK-1", "no_sign_of_life")]


def suppressed_long_ago(activate_at: str, alert_at: str, dsp: str, alert_id: str) -> None:
    """A window that began two hours ago (a future-dated activation of hub 12's ESME executed
    then, sent to the server at ``activate_at``) and an AD1 in it (sent to ``alert_at``)."""
    executed = datetime.now(UTC) - timedelta(hours=2)
    stamp = executed.strftime("%Y-%m-%dT%H:%M:%SZ")
    post(activate_at, dsp, {"type": "activation", "request_id": f"{USER}:{esme_of('12')}:1",
                            "execution_at": stamp})  # fmt: skip
    event_at = (executed + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    decided = post(alert_at, dsp, ad1(alert_id, chf_of("12"), event_at))
    assert decided["items"][0]["outcome"] == "suppressed"


def test_two_servers_issue_a_verification_request_once(
    two_servers: tuple[Server, Server], token_for: Any, database: str
) -> None:
    """spec §14 on the wall clock: an AD1 whose event_at + V is long past is asked about at
    once; both servers run their passes, and the DSP's queue holds one request, which one
    answer settles."""
    first, second = two_servers
    admin = token_for("admin")
    switched = httpx.put(
        f"{second.url}/v1/config",
        json={"verify_after_minutes": 10, "verify_timeout_minutes": 30, "verify_attempts": 2},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert switched.status_code == 200, switched.text
    dsp = token_for("dsp")
    suppressed_long_ago(first.url, second.url, dsp, "ASK-1")

    def settle_passes() -> None:
        for server in two_servers:  # two more passes of each server
            passes = passes_of(server.url, admin, "poagate_verification_passes_total")
            deadline = time.monotonic() + 10
            while passes_of(server.url, admin, "poagate_verification_passes_total") < passes + 2:
                assert time.monotonic() < deadline, "a server stopped running its passes"
                time.sleep(0.05)

    def requests() -> list[tuple[str, int, str]]:
        with open_store(database, "read") as store:
            return [(r.alert_id, r.attempt, r.outcome.value) for r in store.verifications.all()]

    settle_passes()
    assert requests() == [("ASK-1", 1, "pending")]
    queue = httpx.get(
        f"{first.url}/v1/verifications", headers={"Authorization": f"Bearer {dsp}"}
    ).json()["items"]
    assert [(v["alert_id"], v["attempt"]) for v in queue] == [("ASK-1", 1)]
    post(first.url, dsp, {"type": "device_message", "device_id": esme_of("12")})
    settle_passes()
    assert requests() == [("ASK-1", 1, "answered")]
    # One pass an interval among the servers: some passes were left to the other server's.
    skipped = [
        passes_of(s.url, admin, "poagate_verification_passes_skipped_total") for s in two_servers
    ]
    assert sum(skipped) > 0, skipped
