"""A network partition between the servers and PostgreSQL (docs/spec.md §16): the database's
link is cut under a steady stream of AD1s, so that what is sent to it is dropped without an
answer, and healed later. While cut, each server answers 503 with Retry-After (not a request
left hanging) and is not ready; once healed it decides again by itself, and every AD1 sent ends
with exactly one outcome."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.faults.partition import PartitionedPostgres, available
from tests.faults.servers import (
    ServeProcess,
    Tally,
    batch_of,
    load_fleet,
    make_token,
    outcomes_in_store,
    send_until_decided,
)
from tests.figures import FIGURES

pytestmark = pytest.mark.slow

SIZE, SENDERS = 20, 2
NOTICE_SECONDS = 15  # a cut seen (503, not ready) within this long, with no answer hanging
RECOVERY_SECONDS = 15  # spec §16


@pytest.fixture
def partitioned() -> Iterator[PartitionedPostgres]:
    reason = available()
    if reason is not None:
        pytest.skip(reason)
    server = PartitionedPostgres()
    try:
        server.start()
        yield server
    finally:
        server.stop()


def not_ready(url: str) -> bool:
    """``/readyz`` answers 503 with Retry-After (a timeout or another answer is not that)."""
    try:
        answer = httpx.get(f"{url}/readyz", timeout=NOTICE_SECONDS)
    except httpx.HTTPError:
        return False
    return answer.status_code == 503 and answer.headers.get("retry-after") == "2"


def test_a_server_cut_from_the_database_answers_503_is_not_ready_and_recovers_by_itself(
    partitioned: PartitionedPostgres,
) -> None:
    database = partitioned.fresh_database()
    servers = [ServeProcess(database), ServeProcess(database)]
    try:
        load_fleet(servers[0].url, make_token(database, "admin"))
        dsp = make_token(database, "dsp")
        tally = Tally()
        stop = threading.Event()
        answered = threading.Semaphore(0)

        def sender(lane: int) -> None:
            urls = [servers[lane % 2].url]
            number = lane
            while not stop.is_set():
                send_until_decided(urls, dsp, batch_of("N", number, SIZE), tally, seconds=120)
                answered.release()
                number += SENDERS

        threads = [threading.Thread(target=sender, args=(lane,)) for lane in range(SENDERS)]
        for thread in threads:
            thread.start()
        for _ in range(20):
            assert answered.acquire(timeout=60)
        partitioned.cut()
        cut = time.monotonic()
        noticed: dict[str, float] = {}

        def watch(url: str) -> None:
            while time.monotonic() < cut + 2 * NOTICE_SECONDS:
                if not_ready(url):
                    noticed[url] = time.monotonic() - cut
                    return

        watchers = [threading.Thread(target=watch, args=(s.url,)) for s in servers]
        for watcher in watchers:
            watcher.start()
        for watcher in watchers:
            watcher.join()
        assert len(noticed) == len(servers), "a server cut from its database is ready"
        deadline = time.monotonic() + 30
        while tally.failures["503"] < SENDERS and time.monotonic() < deadline:
            time.sleep(0.1)  # every sender has been told to wait
        answered_while_cut = tally.answered_after(servers[0].url, cut + NOTICE_SECONDS)
        partitioned.heal()
        healed = time.monotonic()
        deadline = healed + 60
        while time.monotonic() < deadline and not all(
            tally.answered_after(server.url, healed) >= 5 for server in servers
        ):
            time.sleep(0.1)
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads)
        for server in servers:
            assert server.process.poll() is None, server.stderr()
            assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
    finally:
        for server in servers:
            server.stop()
    recovered = [tally.first_answer_after(server.url, healed) - healed for server in servers]
    assert answered_while_cut == 0
    assert all(seconds < NOTICE_SECONDS for seconds in noticed.values()), noticed
    assert tally.failures["503"] >= SENDERS
    assert tally.retry_after == {"2"}
    assert "ReadTimeout" not in tally.failures  # no request left hanging for the client's 30 s
    per_alert, duplicates = outcomes_in_store(database)
    assert tally.decided_ids <= set(per_alert)
    assert set(per_alert) == tally.sent
    assert set(per_alert.values()) == {1}
    assert tally.outcomes["duplicate"] == duplicates
    assert all(seconds < RECOVERY_SECONDS for seconds in recovered), recovered
    FIGURES.append(
        f"partition: {len(tally.sent):,} AD1s sent, {len(tally.decided_ids):,} decisions "
        f"answered, 0 lost, 0 twice, {duplicates} decided but answered 503; failed requests "
        f"resent {dict(tally.failures)}; not ready "
        f"{', '.join(f'{s:.1f}' for s in noticed.values())} s after the cut; deciding again "
        f"{', '.join(f'{s:.1f}' for s in recovered)} s after the link came back",
    )
