"""Delivering the outbox: each forwarded AD1 to its DNO's webhook, at least once, in order.

The worker claims deliveries that are due — for each CHF only the oldest not yet delivered, so
a DNO receives each hub's alerts in the order they were decided — and POSTs the original
message with its signature (``poagate.delivery.signing``). A 2xx answer is a delivery. Anything
else (another status, a refused connection, a timeout) is a failed attempt, tried again after
an exponential backoff with jitter; after ``max_attempts`` the delivery is dead, shown to admin
at ``/v1/deliveries`` and sent again from there on request. Later alerts of the same CHF wait
while an earlier one is being retried, and go on once it is delivered or dead.

Several server processes may run a worker each: claims are made in serialised transactions
and last a lease, so a delivery is attempted by one worker at a time, and by another only if
its claimer died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from poagate.delivery.metrics import DELIVERIES, LAST_ROUND, ROUNDS
from poagate.delivery.signing import signed_headers
from poagate.store import StoreError
from poagate.store.database import open_store
from poagate.store.ports import OutboxQueue
from poagate.store.records import Delivery

log = logging.getLogger("poagate.delivery")

CLAIM_LIMIT = 64
DEFAULTS: dict[str, Any] = {
    "webhooks": {},
    "max_attempts": 8,
    "timeout_seconds": 5.0,
    "backoff_seconds": 1.0,
    "backoff_max_seconds": 300.0,
}


def backoff(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds before attempt ``attempt + 1``: exponential, capped, with "equal jitter" (half
    the delay fixed, half random) so that many failed deliveries do not retry in step."""
    delay = min(cap, base * 2.0 ** (attempt - 1))
    return float(delay / 2 + rng.uniform(0, delay / 2))


@dataclass(slots=True)
class WorkerStatus:
    """How far a worker has got: rounds completed (whatever they found), for tests and health."""

    rounds: int = 0


async def run_deliveries(
    database: str,
    clock: Callable[[], datetime],
    poll_seconds: float,
    status: WorkerStatus | None = None,
) -> None:
    """Deliver until cancelled (the server's lifespan runs this as a task)."""
    store = await asyncio.to_thread(open_store, database, "service")
    status = status or WorkerStatus()
    rng = random.Random()
    try:
        async with httpx.AsyncClient() as client:
            while True:
                try:
                    settings = await asyncio.to_thread(store.reference.settings)
                    sent = await deliver_due(store.outbox, settings, client, clock, rng)
                except StoreError as exc:
                    log.warning("deliveries paused: %s", exc)
                    sent = 0
                else:
                    LAST_ROUND.set_to_current_time()
                status.rounds += 1
                ROUNDS.inc()
                if not sent:
                    await asyncio.sleep(poll_seconds)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(store.close)


async def deliver_due(
    outbox: OutboxQueue,
    settings: dict[str, Any],
    client: httpx.AsyncClient,
    clock: Callable[[], datetime],
    rng: random.Random,
) -> int:
    """One round: claim what is due, send it, record the results. How many were attempted."""
    delivery_settings = {**DEFAULTS, **(settings.get("delivery") or {})}
    timeout = float(delivery_settings["timeout_seconds"])
    lease = timedelta(seconds=timeout * 2 + 30)
    claimed: list[Delivery] = await asyncio.to_thread(outbox.claim, clock(), lease, CLAIM_LIMIT)
    if not claimed:
        return 0
    webhooks = delivery_settings["webhooks"]
    results = await asyncio.gather(*(send(client, d, webhooks, timeout) for d in claimed))

    def record() -> None:
        done = clock()
        for delivery, error in zip(claimed, results, strict=True):
            if error is None:
                outbox.delivered(delivery.id, done)
                DELIVERIES.labels("delivered").inc()
                continue
            attempt = delivery.attempts + 1
            if attempt >= int(delivery_settings["max_attempts"]):
                outbox.failed(delivery.id, error, None)
                DELIVERIES.labels("dead").inc()
                log.warning(
                    "delivery of %s to %s is dead after %d attempts: %s",
                    delivery.alert_id,
                    delivery.network_operator,
                    attempt,
                    error,
                )
            else:
                wait = backoff(
                    attempt,
                    float(delivery_settings["backoff_seconds"]),
                    float(delivery_settings["backoff_max_seconds"]),
                    rng,
                )
                outbox.failed(delivery.id, error, done + timedelta(seconds=wait))
                DELIVERIES.labels("failed").inc()

    await asyncio.to_thread(record)
    return len(claimed)


async def send(
    client: httpx.AsyncClient, delivery: Delivery, webhooks: dict[str, Any], timeout: float
) -> str | None:
    """POST one delivery; None when the webhook took it, else what went wrong."""
    hook = webhooks.get(delivery.network_operator)
    if not hook or not hook.get("url") or not hook.get("secret"):
        return f"no webhook is configured for network operator {delivery.network_operator}"
    headers = {
        "Content-Type": delivery.content_type,
        "Idempotency-Key": delivery.alert_id,
        "X-Poagate-Alert-Id": delivery.alert_id,
        "X-Poagate-Network-Operator": delivery.network_operator,
        **signed_headers(hook["secret"], delivery.payload),
    }
    try:
        response = await client.post(
            hook["url"], content=delivery.payload, headers=headers, timeout=timeout
        )
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"
