"""The answer ``POST /v1/messages`` gives for each item, and the names metrics count it by."""

from __future__ import annotations

from typing import Any

from poagate.domain.events import ActivationOutcome, DeviceMessage, Ignored
from poagate.domain.outcomes import (
    ActivationApplied,
    DuplicateAlert,
    ForwardedAlert,
    SuppressionEntry,
)
from poagate.service.ingest import ItemResult

AD1_OUTCOMES = frozenset({"suppressed", "forwarded", "duplicate"})


def outcome_name(result: ItemResult) -> str:
    """suppressed, forwarded, duplicate, recorded, ignored or rejected."""
    kind = type(result.outcome)
    if kind is SuppressionEntry:
        return "suppressed"
    if kind is ForwardedAlert:
        return "forwarded"
    if kind is DuplicateAlert:
        return "duplicate"
    if kind is Ignored:
        return "ignored"
    if result.outcome is None:
        return "rejected"
    return "recorded"


def message_type(result: ItemResult) -> str:
    """What kind of message an item was, for metrics: ad1, activation, activation_outcome,
    device_message, or its outcome (ignored, rejected) when it was not read as an event."""
    kind = type(result.outcome)
    if kind is ActivationApplied:
        return "activation"
    if kind is ActivationOutcome:
        return "activation_outcome"
    if kind is DeviceMessage:
        return "device_message"
    name = outcome_name(result)
    return "ad1" if name in AD1_OUTCOMES else name


def answer(result: ItemResult) -> dict[str, Any]:
    """One item's answer: its position, outcome and what the caller needs to know of it."""
    answer: dict[str, Any] = {"position": result.position}
    outcome = result.outcome
    if outcome is None:
        return {**answer, "outcome": "rejected", "error": result.error}
    if isinstance(outcome, Ignored):
        return {**answer, "outcome": "ignored", "what": outcome.what}
    if isinstance(outcome, SuppressionEntry):
        return {
            **answer,
            "outcome": "suppressed",
            "alert_id": outcome.alert_id,
            "network_operator": outcome.network_operator,
            "activation_request_id": outcome.activation_request_id,
            "window_start": outcome.window_start,
            "window_end": outcome.window_end,
        }
    if isinstance(outcome, ForwardedAlert):
        return {
            **answer,
            "outcome": "forwarded",
            "alert_id": outcome.alert_id,
            "network_operator": outcome.network_operator,
            "reason": outcome.reason,
        }
    if isinstance(outcome, DuplicateAlert):
        return {**answer, "outcome": "duplicate", "alert_id": outcome.alert_id}
    if isinstance(outcome, ActivationApplied):
        record = outcome.records[0]
        return {
            **answer,
            "outcome": "recorded",
            "type": "activation",
            "request_id": record.request_id,
            "kind": record.kind.value,
            "reason": record.reason.value,
            "status": record.status.value,
            "repeat": outcome.repeat,
            "window_start": record.window_start,
            "window_end": record.window_end,
            "changed": [r.request_id for r in outcome.records[1:]],
        }
    return {
        **answer,
        "outcome": "recorded",
        "type": message_type(result),
        "device_id": outcome.device_id,
    }
