"""A network partition between servers and PostgreSQL (docs/spec.md §16): the database's link
is cut under a steady stream of AD1s, so that what is sent to it is dropped without an answer,
and healed later. While cut, each server answers 503 with Retry-After (not a request left
hanging) and is not ready; once healed it decides again by itself, and every AD1 sent ends with
exactly one outcome. And a server cut off while it holds the writers' lock does not stop the
servers that can still reach the database for longer than the database takes to drop it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from poagate.store.postgres import WRITER_LOCK_KEY, connect
from tests.faults.partition import PartitionedPostgres, available
from tests.faults.servers import (
    ServeProcess,
    SteadyLoad,
    Tally,
    batch_of,
    each_ad1_once,
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
def partitioned(request: pytest.FixtureRequest) -> Iterator[PartitionedPostgres]:
    """The database in a network namespace; ``@pytest.mark.parametrize("partitioned", [n],
    indirect=True)`` gives it ``n`` links."""
    reason = available()
    if reason is not None:
        pytest.skip(reason)
    server = PartitionedPostgres(getattr(request, "param", 1))
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
        load = SteadyLoad(servers, dsp, "N", tally, SENDERS, SIZE, seconds=120)
        load.wait_answered(20)
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
        load.wait_each_server_answers(healed)
        load.stop()
        for server in servers:
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
    duplicates = each_ad1_once(database, tally)
    assert all(seconds < RECOVERY_SECONDS for seconds in recovered), recovered
    FIGURES.append(
        f"partition: {len(tally.sent):,} AD1s sent, {len(tally.decided_ids):,} decisions "
        f"answered, 0 lost, 0 twice, {duplicates} decided but answered 503; failed requests "
        f"resent {dict(tally.failures)}; not ready "
        f"{', '.join(f'{s:.1f}' for s in noticed.values())} s after the cut; deciding again "
        f"{', '.join(f'{s:.1f}' for s in recovered)} s after the link came back",
    )


@pytest.mark.parametrize("partitioned", [2], indirect=True)
def test_a_server_cut_off_holding_the_writers_lock_stops_the_others_only_for_seconds(
    partitioned: PartitionedPostgres,
) -> None:
    """Writers serialise on one advisory lock, held for a transaction. A server cut off in
    the middle of one leaves its backend waiting for a client that will never speak again;
    the database's end drops it only when TCP says the client is gone, which by default takes
    two hours, every other server waiting meanwhile. poagate's connections ask for keepalives
    and a TCP user timeout on the database's end too: here the other server decides again
    within ``NOTICE_SECONDS``."""
    name = partitioned.fresh_database().rsplit("/", 1)[1]
    cut_off = ServeProcess(partitioned.url_via(0, name))
    other = ServeProcess(partitioned.url_via(1, name))
    holder = None
    try:
        load_fleet(other.url, make_token(partitioned.url_via(1, name), "admin"))
        dsp = make_token(partitioned.url_via(1, name), "dsp")
        tally = Tally()
        send_until_decided([other.url], dsp, batch_of("L", 0, SIZE), tally)
        # What a server in the middle of a group transaction holds, over the link to be cut,
        # on a connection made as poagate makes its own.
        holder = connect(partitioned.url_via(0, name))
        holder.execute("BEGIN")
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK_KEY,))
        partitioned.cut(0)
        cut = time.monotonic()
        send_until_decided([other.url], dsp, batch_of("L", 1, SIZE), tally, seconds=60)
        waited = time.monotonic() - cut
        assert not_ready(cut_off.url)
        partitioned.heal(0)
        healed = time.monotonic()
        send_until_decided([cut_off.url], dsp, batch_of("L", 2, SIZE), tally, seconds=60)
        recovered = time.monotonic() - healed
        assert cut_off.process.poll() is None
    finally:
        if holder is not None:
            holder.close()
        cut_off.stop()
        other.stop()
    assert waited < NOTICE_SECONDS, waited
    assert recovered < RECOVERY_SECONDS, recovered
    per_alert, _ = outcomes_in_store(partitioned.url_via(1, name))
    assert set(per_alert) == tally.sent
    assert set(per_alert.values()) == {1}
    FIGURES.append(
        f"partition: a server cut off holding the writers' lock held up the other "
        f"{waited:.1f} s; it decided again {recovered:.1f} s after the link came back",
    )
