"""What a DNO receives of a forwarded or released AD1 (spec §18): the Standard Webhooks payload

    {"type": "ad1.forwarded" | "ad1.released", "timestamp": "...", "data": {...}}

``data`` carries the alert (``alert_id``, ``chf_id``, ``esme_id``, ``mpan``, ``network_operator``,
``event_at``, ``received_at``, ``decided_at``, ``reason``), for a release also ``released_at``,
``release_reason`` and the activation and window that had suppressed it
(``activation_request_id``, ``activation_originator``, ``window_start``, ``window_end``: the
Suppression Log's names), and the DSP's ``message`` as received: the JSON object, or the DUIS
XML as a string. ``timestamp`` is when the payload was made (its attempt). The pull feed's
entries are the same record (``AlertData``: ``type`` and the fields, without the message), so
the two readings of one AD1 agree.

A released AD1 keeps the ``decided_at`` of its decision (when it was suppressed) and says when
and why it was released: a DNO can tell an alert that arrives late, and why, from one sent at
once. A webhook configured with ``format = "original"`` receives the DSP's message alone
instead (``poagate.delivery.worker``).
"""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

import orjson

from poagate.domain.outcomes import ForwardedAlert, SuppressionEntry
from poagate.domain.values import value

FORWARDED = "ad1.forwarded"
RELEASED = "ad1.released"
CONTENT_TYPE = "application/json"
RELEASE_FIELDS = (
    "released_at",
    "release_reason",
    "activation_request_id",
    "activation_originator",
    "window_start",
    "window_end",
)


@value
class AlertData:
    """One forwarded or released AD1 as a DNO reads it: the envelope's ``type`` and ``data``
    (without the message), and an entry of the pull feed. The release's fields are None for
    an AD1 forwarded at once."""

    type: str
    alert_id: str
    chf_id: str
    esme_id: str | None
    mpan: str | None
    network_operator: str
    event_at: datetime
    received_at: datetime
    decided_at: datetime
    reason: str
    released_at: datetime | None = None
    release_reason: str | None = None
    activation_request_id: str | None = None
    activation_originator: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None


FEED_FIELDS = tuple(f.name for f in fields(AlertData))


def alert_data(
    outcome: ForwardedAlert | SuppressionEntry, esme_id: str | None, mpan: str | None
) -> AlertData:
    """What a DNO reads of one forwarded or released AD1 (``esme_id`` and ``mpan``: the
    routing of a forwarded AD1, from the inventory; a suppressed one carries its own)."""
    if type(outcome) is SuppressionEntry:
        return AlertData(
            RELEASED,
            outcome.alert_id,
            outcome.chf_id,
            outcome.esme_id,
            outcome.mpan,
            outcome.network_operator,
            outcome.event_at,
            outcome.received_at,
            outcome.decided_at,
            outcome.rule,
            outcome.released_at,
            outcome.release_reason,
            outcome.activation_request_id,
            outcome.activation_originator,
            outcome.window_start,
            outcome.window_end,
        )
    assert type(outcome) is ForwardedAlert
    return AlertData(
        FORWARDED,
        outcome.alert_id,
        outcome.chf_id,
        esme_id,
        mpan,
        outcome.network_operator,
        outcome.event_at,
        outcome.received_at,
        outcome.decided_at,
        outcome.reason,
    )


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
    record = alert_data(outcome, esme_id, mpan)
    data = asdict(record)
    kind = data.pop("type")
    if kind == FORWARDED:
        for name in RELEASE_FIELDS:
            del data[name]
    data["message"] = message_value(content_type, message)
    return orjson.dumps({"type": kind, "timestamp": at, "data": data}, option=orjson.OPT_UTC_Z)
