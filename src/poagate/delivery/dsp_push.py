"""The optional push of the verification guard's requests to the DSP's webhook (spec §14).

The DSP can read its queue (``GET /v1/verifications?status=pending``) or be pushed it: when
``dsp_webhook`` is configured, every verification pass is followed by a POST of the pending
requests not yet pushed, as JSON (``{"verifications": [...]}``, the fields of the queue),
signed like a DNO's deliveries (``poagate.delivery.signing.signed_headers``) and sent as they
are (``poagate.delivery.exchange``: a deadline, the answer read capped, the address checked),
in a loop of its own beside the verification pass (``poagate.api.app``), with an
``Idempotency-Key`` naming the requests it carries. A 2xx answer marks them pushed; anything
else leaves them for the next pass, so a request is pushed at least once while it is pending
(a request that leaves the queue unpushed stays readable in the queue's history).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
import orjson

from poagate.delivery.exchange import ExchangeError, post
from poagate.delivery.signing import signed_headers
from poagate.domain.verification import VerificationRequest
from poagate.formats.records import verification_fields
from poagate.formats.settings import Settings
from poagate.store.ports import Pushing

log = logging.getLogger("poagate.delivery.dsp")

PUSH_LIMIT = 500  # requests in one POST at most

StoreCall = Callable[[Callable[[Pushing], Any]], Awaitable[Any]]


def push_body(requests: list[VerificationRequest]) -> bytes:
    return orjson.dumps(
        {"verifications": [verification_fields(r) for r in requests]}, option=orjson.OPT_UTC_Z
    )


async def push_verifications(
    call: StoreCall,
    settings: Settings,
    client: httpx.AsyncClient,
    clock: Callable[[], datetime],
) -> int:
    """Push what is pending and not yet pushed (see the module docstring); how many were
    taken by the DSP."""
    hook = settings.dsp_webhook
    if hook is None or not hook.usable:
        return 0
    pending: list[tuple[int, VerificationRequest]] = await call(
        lambda store: store.verifications.unpushed(PUSH_LIMIT)
    )
    if not pending:
        return 0
    ids = [i for i, _ in pending]
    body = push_body([r for _, r in pending])
    message_id = f"verifications-{ids[0]}-{ids[-1]}-{len(ids)}"
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": message_id,
        **signed_headers(hook.secrets_in_force(clock()), message_id, int(time.time()), body),
    }
    try:
        answer = await post(client, hook.url, body, headers, settings.delivery.timeout_seconds)
    except ExchangeError as exc:
        log.warning("pushing %d verification requests to the DSP failed: %s", len(ids), exc)
        return 0
    if not 200 <= answer.status < 300:
        log.warning(
            "the DSP's webhook answered HTTP %d to %d verification requests; pushed again later",
            answer.status,
            len(ids),
        )
        return 0
    await call(lambda store: store.verifications.mark_pushed(ids, clock()))
    return len(ids)
