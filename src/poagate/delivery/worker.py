"""Delivering the outbox: each forwarded AD1 to its DNO's webhook, at least once, in order.

The worker runs a lane per network operator (``run_deliveries``): each claims its operator's
deliveries that are due — for each CHF only the oldest not yet delivered, so a DNO receives
each hub's alerts in the order they were decided — and POSTs its payload
(``poagate.delivery.payloads``: the spec §18 envelope, or the DSP's message alone), signed
by the Standard Webhooks scheme (``poagate.delivery.signing``). A 2xx answer is a delivery.
Anything else is a failed attempt, recorded on the delivery (attempts, last error):

* a refused connection, a timeout, a 5xx, a 408 or a 429 is tried again after an exponential
  backoff with jitter, capped (``backoff_max_seconds``), or after the receiver's
  ``Retry-After`` when that is longer, for ``retry_for_hours`` (default 24) from when the
  delivery became due (spec §18), and then it is dead (or after ``max_attempts``, when set).
  Each failed attempt is logged (delivery, DNO, error, next attempt) and counted
  (``poagate_delivery_failed_attempts_total``);
* any other 4xx (the receiver will not take this message), or a URL poagate refuses to send to
  (``poagate.formats.webhook_urls``; its name resolving to a refused address:
  ``poagate.delivery.exchange``), is dead at once: retrying it would not help.

Dead deliveries are shown to admin at ``/v1/deliveries`` and sent again on request, one
(``POST /v1/deliveries/{id}/retry``) or every one of a DNO or a time range
(``POST /v1/deliveries/retry``, ``poagate deliveries retry``).
Later alerts of the same CHF wait while an earlier one is being retried, and go on once it is
delivered or dead.

Nothing one delivery does can stop the others: every attempt has a deadline for the whole
exchange and reads at most 64 KiB of the answer (``poagate.delivery.exchange``, spec §16); a
slow receiver holds only its own operator's lane; whatever an attempt raises is that
delivery's failed attempt; whatever a round raises is logged and the next round runs; and
``supervise`` restarts the loop should it ever end. ``poagate_delivery_last_round_timestamp_
seconds`` shows when a round last completed.

A round claims up to ``CLAIM_LIMIT`` deliveries of its operator, sends them ``IN_FLIGHT`` at
a time over the operator's own connection pool (kept alive between rounds; one pool a DNO, so
no DNO's requests walk another's connections), and records the round's results in one
transaction: one commit a round, not one a delivery (``benchmarks/deliveries.py``).

Several server processes may run a worker each: claims are made in serialised transactions
and last a lease long enough for a round's every attempt to reach its deadline, so a delivery
is attempted by one worker at a time, and by another only if its claimer died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import partial
from typing import TypeVar

import httpx

from poagate.delivery.exchange import Answer, ExchangeError, Resolver, checked_client, post
from poagate.delivery.metrics import (
    DELIVERIES,
    FAILED_ATTEMPTS,
    LAST_ROUND,
    RESTARTS,
    ROUND_ERRORS,
    ROUNDS,
)
from poagate.delivery.payloads import Body, bodies
from poagate.delivery.signing import signed_headers
from poagate.formats.limits import error_text
from poagate.formats.settings import Delivery as DeliverySettings
from poagate.formats.settings import Settings, Webhook
from poagate.formats.webhook_urls import WebhookUrlError, check_webhook_url
from poagate.store import StoreError
from poagate.store.database import open_store
from poagate.store.outbox import Delivery
from poagate.store.ports import OutboxQueue
from poagate.store.store import Store
from poagate.store.writer_lock import writer_work

log = logging.getLogger("poagate.delivery")

CLAIM_LIMIT = 64  # deliveries a lane claims, sends and records as one round
IN_FLIGHT = 16  # a lane's requests at once, and the connections its pool keeps alive
RETRIED_4XX = frozenset({408, 429})  # the only 4xx answers worth sending again
RETRY_AFTER_CAP_SECONDS = 3600.0  # a receiver's Retry-After is honoured up to an hour
_T = TypeVar("_T")


async def in_thread(call: Callable[[], _T]) -> _T:
    """``call()`` in a worker thread. When the task is cancelled meanwhile (the server shuts
    down), the cancellation waits for the call to end: the call uses the worker's store, which
    the cancellation then closes, and a SQLite connection closed under a running statement
    crashes the whole process (seen: a segmentation fault at a test server's shutdown)."""
    running = asyncio.ensure_future(asyncio.to_thread(call))
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        await asyncio.wait([running])
        raise


def backoff(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds before attempt ``attempt + 1``: exponential, capped, with "equal jitter" (half
    the delay fixed, half random) so that many failed deliveries do not retry in step."""
    delay = min(cap, base * 2.0 ** min(attempt - 1, 60))
    return float(delay / 2 + rng.uniform(0, delay / 2))


@dataclass(slots=True)
class WorkerStatus:
    """How far a worker has got, for tests and health: rounds after which the worker had caught
    up (every lane it had started had ended: what was due then has been attempted and
    recorded), rounds of the coordinator that completed their work, and restarts of the loop."""

    rounds: int = 0
    successful_rounds: int = 0
    restarts: int = 0


@dataclass(frozen=True, slots=True)
class Attempt:
    """What became of one attempt: ``error`` None when delivered; ``retry_after`` the seconds
    the receiver asked for; ``final`` when sending again would not help (dead at once)."""

    error: str | None
    retry_after: float | None = None
    final: bool = False


async def supervise(
    run: Callable[[], Awaitable[None]], status: WorkerStatus, pause_seconds: float = 1.0
) -> None:
    """Run ``run()`` until cancelled, starting it again (logged and counted) whenever it ends."""
    while True:
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the delivery worker stopped; starting it again")
        else:
            log.error("the delivery worker ended; starting it again")
        status.restarts += 1
        RESTARTS.inc()
        await asyncio.sleep(pause_seconds)


@dataclass(slots=True)
class Current:
    """The settings the coordinator read last, which every lane uses for its next round."""

    settings: Settings


class StoreCalls:
    """The worker's one store connection, used by one call at a time (the lanes share it; each
    call is short: a claim, a settlement)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = asyncio.Lock()

    async def __call__(self, call: Callable[[], _T]) -> _T:
        async with self._lock:
            return await in_thread(call)


async def run_deliveries(
    database: str,
    clock: Callable[[], datetime],
    poll_seconds: float,
    status: WorkerStatus | None = None,
    resolver: Resolver | None = None,
) -> None:
    """Deliver until cancelled (the server's lifespan runs this, supervised, as a task).

    The coordinator polls which network operators have a message due and starts a lane for
    each that has none running; a lane delivers its operator's due messages round after round
    and ends when none is due. A receiver that is slow, trickles or answers forever holds only
    its own lane: every attempt has a deadline and reads at most 64 KiB
    (``poagate.delivery.exchange``), and the other lanes never wait for it (spec §16).

    Its write transactions count as ``deliveries`` in the writers' lock metrics: every store
    call runs in a thread that copies this task's context, and every lane task copies it."""
    with writer_work("deliveries"):
        await _deliver(database, clock, poll_seconds, status, resolver)


async def _deliver(
    database: str,
    clock: Callable[[], datetime],
    poll_seconds: float,
    status: WorkerStatus | None,
    resolver: Resolver | None,
) -> None:
    status = status or WorkerStatus()
    rng = random.Random()
    calls: StoreCalls | None = None
    lanes: dict[str, asyncio.Task[None]] = {}
    clients: dict[str, httpx.AsyncClient] = {}
    trusted = httpx.create_ssl_context()  # loaded once, shared by the operators' clients
    try:
        async with contextlib.AsyncExitStack() as opened:
            while True:
                try:
                    if calls is None:
                        calls = StoreCalls(
                            await in_thread(partial(open_store, database, "service"))
                        )
                    due = await calls(partial(calls.store.outbox.due_operators, clock()))
                    # After what is due: a lane never starts with settings older than its
                    # messages (read first, a webhook configured just before its first
                    # message was missed, and that message tried again for nothing).
                    current = Current(await calls(calls.store.reference.settings))
                    for operator in [o for o, task in lanes.items() if task.done()]:
                        del lanes[operator]
                    for operator in due:
                        if operator not in lanes:
                            client = clients.get(operator)
                            if client is None:
                                client = await opened.enter_async_context(
                                    checked_client(resolver, trusted, IN_FLIGHT)
                                )
                                clients[operator] = client
                            lane = run_lane(operator, calls, current, client, clock, rng)
                            lanes[operator] = asyncio.create_task(
                                lane, name=f"deliveries-{operator}"
                            )
                except StoreError as exc:
                    log.warning("deliveries paused: %s", exc)
                except Exception:
                    log.exception("a delivery round failed; the next one runs")
                    ROUND_ERRORS.inc()
                else:
                    LAST_ROUND.set_to_current_time()
                    status.successful_rounds += 1
                ROUNDS.inc()
                busy = [task for task in lanes.values() if not task.done()]
                if busy:
                    await asyncio.wait(busy, timeout=poll_seconds)
                if not any(not task.done() for task in lanes.values()):
                    status.rounds += 1  # caught up: every lane started so far has ended
                    await asyncio.sleep(poll_seconds)
    finally:
        for task in lanes.values():
            task.cancel()
        if lanes:
            await asyncio.wait(lanes.values())
        if calls is not None:
            with contextlib.suppress(Exception):
                await in_thread(calls.store.close)


async def run_lane(
    operator: str,
    calls: StoreCalls,
    current: Current,
    client: httpx.AsyncClient,
    clock: Callable[[], datetime],
    rng: random.Random,
) -> None:
    """Deliver ``operator``'s due messages until none is due."""
    while True:
        try:
            sent = await deliver_due(calls, current.settings, client, clock, rng, operator)
        except StoreError as exc:
            log.warning("deliveries to %s paused: %s", operator, exc)
            return
        except Exception:
            log.exception("a delivery round of %s failed; the next one runs", operator)
            ROUND_ERRORS.inc()
            return
        if not sent:
            return


async def deliver_due(
    calls: StoreCalls,
    settings: Settings,
    client: httpx.AsyncClient,
    clock: Callable[[], datetime],
    rng: random.Random,
    operator: str,
) -> int:
    """One round of one operator's lane: claim what is due, send it, record the results. How
    many were attempted."""
    delivery_settings = settings.delivery
    deadline = delivery_settings.timeout_seconds
    # The lease covers a round: its requests go IN_FLIGHT at a time, each within the deadline.
    waves = -(-CLAIM_LIMIT // IN_FLIGHT)
    lease = timedelta(seconds=deadline * waves + 30)
    outbox: OutboxQueue = calls.store.outbox
    claimed = await calls(partial(outbox.claim, clock(), lease, CLAIM_LIMIT, operator))
    if not claimed:
        return 0
    webhooks = delivery_settings.webhooks
    now = clock()
    made = await calls(partial(bodies, calls.store, claimed, webhooks, now))
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def attempt(delivery: Delivery) -> Attempt:
        async with slots:
            return await send(client, delivery, webhooks, deadline, now, made.get(delivery.id))

    results = await asyncio.gather(*(attempt(d) for d in claimed))

    done = clock()
    ok: list[int] = []
    fates: list[Fate] = []
    for delivery, result in zip(claimed, results, strict=True):
        if result.error is None:
            ok.append(delivery.id)
            continue
        try:
            fates.append(fate(delivery, result, delivery_settings, done, rng))
        except Exception:  # a bug of ours: this one stays leased, is claimed again later
            log.exception("deciding what becomes of delivery %d failed", delivery.id)

    def record() -> None:
        """The round's results in one transaction: one commit a round, not one a delivery.
        Should it fail, none is recorded and the round is sent again once its leases end (at
        least once, as ever). Nothing here but the writes, so that nothing but the database
        can fail it (a PostgreSQL transaction fails whole after one error)."""
        with calls.store.transaction():
            outbox.delivered(ok, done)
            for f in fates:
                outbox.failed(f.delivery.id, f.error, f.retry_at)

    await calls(record)
    DELIVERIES.labels("delivered").inc(len(ok))
    for f in fates:  # counted and logged once recorded
        f.report()
    return len(claimed)


@dataclass(frozen=True, slots=True)
class Fate:
    """What becomes of a failed attempt's delivery: due again at ``retry_at``, or dead (None)."""

    delivery: Delivery
    error: str
    attempt: int
    retry_at: datetime | None

    def report(self) -> None:
        """Count and log it (after it is recorded)."""
        d = self.delivery
        FAILED_ATTEMPTS.labels(d.network_operator).inc()
        if self.retry_at is None:
            DELIVERIES.labels("dead").inc()
            log.warning(
                "delivery %d of %s to network operator %s is dead after %d attempts: %s",
                d.id,
                d.alert_id,
                d.network_operator,
                self.attempt,
                self.error,
            )
            return
        DELIVERIES.labels("failed").inc()
        log.warning(
            "delivery %d of %s to network operator %s failed (attempt %d): %s; next attempt at %s",
            d.id,
            d.alert_id,
            d.network_operator,
            self.attempt,
            self.error,
            self.retry_at.isoformat(),
        )


def fate(
    delivery: Delivery,
    result: Attempt,
    delivery_settings: DeliverySettings,
    done: datetime,
    rng: random.Random,
) -> Fate:
    """What a failed attempt makes of its delivery: due again later, or dead."""
    assert result.error is not None
    error = error_text(result.error.replace("\x00", ""))
    attempt = delivery.attempts + 1
    horizon = delivery.due_since + timedelta(hours=delivery_settings.retry_for_hours)
    limit = delivery_settings.max_attempts
    if result.final or done >= horizon or (limit is not None and attempt >= limit):
        return Fate(delivery, error, attempt, None)
    wait = backoff(
        attempt, delivery_settings.backoff_seconds, delivery_settings.backoff_max_seconds, rng
    )
    if result.retry_after is not None:
        wait = max(wait, min(result.retry_after, RETRY_AFTER_CAP_SECONDS))
    return Fate(delivery, error, attempt, min(done + timedelta(seconds=wait), horizon))


async def send(
    client: httpx.AsyncClient,
    delivery: Delivery,
    webhooks: Mapping[str, Webhook],
    deadline: float,
    now: datetime,
    body: Body | None = None,
) -> Attempt:
    """POST one delivery (``body``: what it sends, by default the message as queued).
    Whatever goes wrong — even what nobody foresaw — is this delivery's failed attempt, never
    the worker's end."""
    try:
        body = body or Body(delivery.content_type, delivery.payload)
        hook = webhooks.get(delivery.network_operator)
        if hook is None or not hook.usable:
            operator = delivery.network_operator
            return Attempt(f"no webhook is configured for network operator {operator}")
        try:
            check_webhook_url(hook.url)
        except WebhookUrlError as exc:
            return Attempt(f"the webhook URL is refused: {exc}", final=True)
        try:
            headers = request_headers(delivery, body, hook, now)
            answer = await post(client, hook.url, body.payload, headers, deadline)
        except ExchangeError as exc:
            return Attempt(exc.detail, final=exc.final)
        return attempt_of(answer, now)
    except Exception as exc:
        log.exception("delivery %d failed unexpectedly", delivery.id)
        return Attempt(f"{type(exc).__name__}: {exc}")


def request_headers(delivery: Delivery, body: Body, hook: Webhook, now: datetime) -> dict[str, str]:
    """The headers of one attempt: its type, its identity and its Standard Webhooks signature."""
    message_id = header_safe(delivery.alert_id)
    return {
        "Content-Type": header_safe(body.content_type),
        "Idempotency-Key": message_id,
        "X-Poagate-Network-Operator": header_safe(delivery.network_operator),
        **signed_headers(hook.secrets_in_force(now), message_id, int(time.time()), body.payload),
    }


def attempt_of(response: Answer, now: datetime) -> Attempt:
    """What a receiver's answer makes of the attempt (see the module docstring)."""
    status = response.status
    if 200 <= status < 300:
        return Attempt(None)
    if 400 <= status < 500 and status not in RETRIED_4XX:
        return Attempt(f"HTTP {status}: the receiver refused this message", final=True)
    return Attempt(f"HTTP {status}", retry_after_seconds(response.headers.get("retry-after"), now))


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A ``Retry-After`` header's delay: seconds, or an HTTP date; None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(min(int(value[:9]), 10**8))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def header_safe(text: str) -> str:
    """``text`` as an HTTP header value: visible ASCII as it is, anything else (a CR or LF,
    a non-ASCII letter in an alert_id stored before the input limits) percent-encoded."""
    if text.isascii() and text.isprintable() and " " not in text:
        return text
    return "".join(c if "!" <= c <= "~" else urllib.parse.quote(c, safe="") for c in text)
