"""Faults at the DNOs' end, with a real server and real receivers: a receiver that fails 30%
of requests (errors and dropped connections) and is slow on others, and a poison alert among
the rest. Every other forwarded AD1 is delivered, signed, each hub's in decision order."""

from __future__ import annotations

import random
import time
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.api_harness import OPERATORS, SECRET, Receiver, chf_of
from tests.faults.servers import (
    ServeProcess,
    Tally,
    batch_of,
    load_fleet,
    make_token,
    send_until_decided,
)
from tests.figures import FIGURES
from tests.pg import PostgresServer

pytestmark = pytest.mark.slow

ROUNDS = 25  # batches of one AD1 per hub: 14 × 25 alerts
POISON = "F-7-3"  # (an alert of hub 10 + 7 + 3: its every delivery drops the connection)


def flaky_behaviour() -> Any:
    chances = random.Random(20260301)  # the same faults on every run

    def behaviour(operator: str, alert_id: str, attempt: int) -> str:
        if alert_id == POISON:
            return "reset"
        roll = chances.random()
        if roll < 0.15:
            return "fail"  # 500
        if roll < 0.30:
            return "reset"  # no answer at all
        if roll < 0.45:
            return "slow"
        if roll < 0.48:
            return "hang"  # beyond the sender's timeout
        return "ok"

    return behaviour


def test_a_flaky_slow_receiver_gets_every_alert_in_order_and_a_poison_one_stops_none(
    postgres: PostgresServer, receiver: tuple[Receiver, str]
) -> None:
    rx, url = receiver
    rx.behaviour = flaky_behaviour()
    database = postgres.fresh_database()
    server = ServeProcess(database, deliveries=True, POAGATE_DELIVERY_POLL_SECONDS="0.05")
    try:
        admin = make_token(database, "admin")
        load_fleet(server.url, admin)
        config = {
            "delivery": {
                "webhooks": {o: {"url": f"{url}/dno/{o}", "secret": SECRET} for o in OPERATORS},
                "max_attempts": 25,
                "timeout_seconds": 0.5,
                "backoff_seconds": 0.05,
                "backoff_max_seconds": 0.2,
            }
        }
        auth = {"Authorization": f"Bearer {admin}"}
        answer = httpx.put(f"{server.url}/v1/config", json=config, headers=auth)
        assert answer.status_code == 200, answer.text
        dsp, tally = make_token(database, "dsp"), Tally()
        order: dict[str, list[str]] = {chf_of(o): [] for o in OPERATORS}
        for number in range(ROUNDS):
            batch = batch_of("F", number, len(OPERATORS))
            for line in batch:
                order[str(line["chf_id"])].append(str(line["alert_id"]))
            send_until_decided([server.url], dsp, batch, tally)
        expected = tally.sent - {POISON}

        def settled() -> bool:
            delivered = {r.alert_id for r in rx.delivered()}
            dead = httpx.get(f"{server.url}/v1/deliveries?status=dead", headers=auth).json()
            return delivered >= expected and len(dead["items"]) == 1

        deadline = time.monotonic() + 240
        while not settled():
            assert time.monotonic() < deadline, "not every alert was delivered in time"
            assert server.process.poll() is None, server.stderr()
            time.sleep(0.2)
        dead = httpx.get(f"{server.url}/v1/deliveries?status=dead", headers=auth).json()
        metrics = httpx.get(f"{server.url}/metrics", headers=auth).text
    finally:
        server.stop()
    assert tally.outcomes["forwarded"] == len(OPERATORS) * ROUNDS
    ((poison,),) = [dead["items"]]
    assert (poison["alert_id"], poison["attempts"]) == (POISON, 25)
    delivered = rx.delivered()
    assert {r.alert_id for r in delivered} == expected  # none lost, the poison never arrived
    for receipt in delivered:
        Webhook(SECRET).verify(receipt.body, receipt.headers, json_parse=False)
    for chf, alerts in order.items():  # each hub's first deliveries in decision order
        operator = chf[-2:]
        arrived = [r.alert_id for r in delivered if r.operator == operator]
        assert list(dict.fromkeys(arrived)) == [a for a in alerts if a != POISON], chf
    attempts = len(rx.receipts)
    failed = sum(1 for r in rx.receipts if r.status != 200)
    assert failed >= 0.25 * len(expected)  # the faults really happened
    assert "poagate_delivery_worker_restarts_total 0.0" in metrics
    FIGURES.append(
        f"faults: flaky receiver: {len(tally.sent)} AD1s forwarded, {len(expected)} "
        f"delivered in order per hub, 1 poison dead after 25 attempts, 0 lost; "
        f"{attempts} requests of which {failed} failed (errors, dropped, timed out)"
    )
