"""What a DNO receives of a forwarded or released AD1 (spec §18): the Standard Webhooks payload

    {"type": "ad1.forwarded" | "ad1.released", "timestamp": "...", "data": {...}}

``data`` carries the alert (``alert_id``, ``chf_id``, ``esme_id``, ``mpan``, ``network_operator``,
``event_at``, ``received_at``, ``decided_at``, ``reason``), for a release also ``released_at``,
``release_reason`` and the ``activation`` and ``window`` that had suppressed it, and the DSP's
``message`` as received: the JSON object, or the DUIS XML as a string. ``timestamp`` is when
the payload was made (its attempt). The pull feed's entries are ``alert_data`` too (without the
message), so the two readings of one AD1 agree.

A released AD1 keeps the ``decided_at`` of its decision (when it was suppressed) and says when
and why it was released: a DNO can tell an alert that arrives late, and why, from one sent at
once. A webhook configured with ``format = "original"`` receives the DSP's message alone
instead (``poagate.delivery.worker``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from poagate.domain.outcomes import ForwardedAlert, SuppressionEntry

FORWARDED = "ad1.forwarded"
RELEASED = "ad1.released"
CONTENT_TYPE = "application/json"


def event_type(outcome: ForwardedAlert | SuppressionEntry) -> str:
    return RELEASED if type(outcome) is SuppressionEntry else FORWARDED


def alert_data(
    outcome: ForwardedAlert | SuppressionEntry, esme_id: str | None, mpan: str | None
) -> dict[str, Any]:
    """The fields a DNO reads of one forwarded or released AD1 (``esme_id`` and ``mpan``: the
    routing of a forwarded AD1, from the inventory; a suppressed one carries its own)."""
    if type(outcome) is SuppressionEntry:
        esme_id, mpan = outcome.esme_id, outcome.mpan
        reason = outcome.rule
    else:
        assert type(outcome) is ForwardedAlert
        reason = outcome.reason
    data: dict[str, Any] = {
        "alert_id": outcome.alert_id,
        "chf_id": outcome.chf_id,
        "esme_id": esme_id,
        "mpan": mpan,
        "network_operator": outcome.network_operator,
        "event_at": outcome.event_at,
        "received_at": outcome.received_at,
        "decided_at": outcome.decided_at,
        "reason": reason,
    }
    if type(outcome) is SuppressionEntry:
        data |= {
            "released_at": outcome.released_at,
            "release_reason": outcome.release_reason,
            "activation": {
                "request_id": outcome.activation_request_id,
                "originator": outcome.activation_originator,
            },
            "window": {"start": outcome.window_start, "end": outcome.window_end},
        }
    return data


def message_value(content_type: str, message: bytes) -> Any:
    """The DSP's message as the payload carries it: JSON as JSON, anything else as text."""
    if content_type.split(";", 1)[0].strip().lower().endswith("json"):
        try:
            return orjson.loads(message)
        except orjson.JSONDecodeError:
            pass
    return message.decode("utf-8", errors="replace")


def envelope(
    outcome: ForwardedAlert | SuppressionEntry,
    esme_id: str | None,
    mpan: str | None,
    content_type: str,
    message: bytes,
    at: datetime,
) -> bytes:
    """The payload's bytes (see the module docstring)."""
    data = alert_data(outcome, esme_id, mpan)
    data["message"] = message_value(content_type, message)
    return orjson.dumps(
        {"type": event_type(outcome), "timestamp": at, "data": data}, option=orjson.OPT_UTC_Z
    )
