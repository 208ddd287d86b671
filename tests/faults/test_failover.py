"""Failover (docs/spec.md §16): two ``poagate serve`` on a multi-host URL naming a primary and
its synchronous standby. Under a steady stream of AD1s the primary is killed (SIGKILL, every
process of it) and the standby promoted. Every AD1 whose decision was answered is on the new
primary, once; what was answered 503 or not at all is resent, and each AD1 ends with exactly one
outcome; each server decides again within 15 s of the promotion, without a restart."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.faults.replication import ReplicatedPostgres
from tests.faults.servers import (
    ServeProcess,
    SteadyLoad,
    Tally,
    each_ad1_once,
    load_fleet,
    make_token,
)
from tests.figures import FIGURES

pytestmark = pytest.mark.slow

SIZE, SENDERS = 20, 4
RECOVERY_SECONDS = 15  # spec §16


@pytest.fixture
def replicated() -> Iterator[ReplicatedPostgres]:
    clusters = ReplicatedPostgres()
    try:
        clusters.start()
        yield clusters
    finally:
        clusters.stop()


def test_failover_to_the_synchronous_standby_keeps_every_answered_ad1_once(
    replicated: ReplicatedPostgres,
) -> None:
    name = replicated.primary.fresh_database().rsplit("/", 1)[1]
    database = replicated.url(name)
    servers = [ServeProcess(database), ServeProcess(database)]
    try:
        load_fleet(servers[0].url, make_token(database, "admin"))
        dsp = make_token(database, "dsp")
        tally = Tally()
        load = SteadyLoad(servers, dsp, "F", tally, SENDERS, SIZE, seconds=90)
        load.wait_answered(40)  # a steady stream before the fault
        replicated.kill_primary()
        killed = time.monotonic()
        time.sleep(1)  # the operator notices; meanwhile the servers answer 503
        replicated.promote()
        promoted = time.monotonic()
        load.wait_each_server_answers(promoted)
        load.stop()  # no restart
    finally:
        for server in servers:
            server.stop()
    recovered = [tally.first_answer_after(server.url, promoted) - promoted for server in servers]
    duplicates = each_ad1_once(database, tally)
    answered_ids = tally.decided_ids
    assert all(seconds < RECOVERY_SECONDS for seconds in recovered), recovered
    FIGURES.append(
        f"failover: {len(tally.sent):,} AD1s sent, {len(answered_ids):,} decisions answered, "
        f"0 lost, 0 twice, {duplicates} decided but answered 503 (resend answered duplicate); "
        f"failed requests resent {dict(tally.failures)}; primary killed to promotion "
        f"{promoted - killed:.1f} s; servers deciding again "
        f"{', '.join(f'{s:.1f}' for s in recovered)} s after the promotion",
    )
