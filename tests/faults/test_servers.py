"""Faults with real servers: a server killed in the middle of a stream of batches, and the
database stopped and started under load. Every alert_id sent has exactly one outcome, none is
lost, and nothing is decided twice."""

from __future__ import annotations

import threading
import time

import pytest

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
from tests.pg import PostgresServer

pytestmark = pytest.mark.slow

BATCHES, SIZE, SENDERS = 60, 40, 3


def test_a_server_killed_mid_stream_loses_nothing_and_decides_nothing_twice(
    postgres: PostgresServer,
) -> None:
    database = postgres.fresh_database()
    first, second = ServeProcess(database), ServeProcess(database)
    try:
        load_fleet(first.url, make_token(database, "admin"))
        dsp = make_token(database, "dsp")
        tally = Tally()
        answered = threading.Semaphore(0)

        def sender(lane: int) -> None:
            for number in range(lane, BATCHES, SENDERS):
                # The first server while it lives; the second when it does not answer.
                send_until_decided([first.url, second.url], dsp, batch_of("K", number, SIZE), tally)
                answered.release()

        threads = [threading.Thread(target=sender, args=(lane,)) for lane in range(SENDERS)]
        for thread in threads:
            thread.start()
        for _ in range(BATCHES // 3):  # a third of the stream decided, the rest in flight
            assert answered.acquire(timeout=120)
        first.kill()
        for thread in threads:
            thread.join(timeout=300)
        assert not any(thread.is_alive() for thread in threads)
    finally:
        first.stop()
        second.stop()
    per_alert, duplicates = outcomes_in_store(database)
    assert set(per_alert) == tally.sent  # none lost
    assert set(per_alert.values()) == {1}  # none decided twice
    decided = tally.outcomes["forwarded"] + tally.outcomes["suppressed"]
    assert decided + tally.outcomes["duplicate"] == BATCHES * SIZE
    assert decided <= len(tally.sent)
    FIGURES.append(
        f"faults: server killed mid-stream: {len(tally.sent):,} AD1s sent, "
        f"{len(per_alert):,} decided once, {duplicates} answered as duplicates after a resend, "
        f"0 lost; failed requests resent: {dict(tally.failures)}",
    )


def test_the_database_stopped_under_load_answers_503_then_decides_every_batch_once(
    own_postgres: PostgresServer,
) -> None:
    database = own_postgres.fresh_database()
    servers = [ServeProcess(database), ServeProcess(database)]
    try:
        load_fleet(servers[0].url, make_token(database, "admin"))
        dsp = make_token(database, "dsp")
        tally = Tally()
        answered = threading.Semaphore(0)

        def sender(lane: int) -> None:
            for number in range(lane, BATCHES, SENDERS):
                urls = [servers[lane % 2].url]
                send_until_decided(urls, dsp, batch_of("P", number, SIZE), tally, seconds=120)
                answered.release()

        threads = [threading.Thread(target=sender, args=(lane,)) for lane in range(SENDERS)]
        for thread in threads:
            thread.start()
        for _ in range(BATCHES // 4):
            assert answered.acquire(timeout=120)
        own_postgres.pause()
        deadline = time.monotonic() + 30
        while tally.failures["503"] < SENDERS and time.monotonic() < deadline:
            time.sleep(0.05)  # every sender has been told to wait
        own_postgres.resume()
        for thread in threads:
            thread.join(timeout=300)
        assert not any(thread.is_alive() for thread in threads)
        for server in servers:  # both came back without a restart
            assert server.process.poll() is None
    finally:
        for server in servers:
            server.stop()
    assert tally.failures["503"] >= SENDERS
    assert tally.retry_after == {"2"}  # every 503 said when to come back
    per_alert, duplicates = outcomes_in_store(database)
    assert set(per_alert) == tally.sent
    assert set(per_alert.values()) == {1}
    assert tally.outcomes["duplicate"] == duplicates
    FIGURES.append(
        f"faults: PostgreSQL stopped under load: {len(tally.sent):,} AD1s sent, "
        f"{tally.failures['503']} answers 503 with Retry-After, {len(per_alert):,} decided "
        f"once, {duplicates} duplicates, 0 lost; other failures {dict(tally.failures)}",
    )
