"""What a DNO's webhook receives, in the OpenAPI description's ``webhooks`` section (spec §18):
the payload's JSON Schema, with an example of each type, and the headers that sign it. The
payload itself is made by ``poagate.formats.envelope``; ``tests/api/test_webhook_payload.py``
checks every payload a test receiver gets against this schema, so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header
from pydantic import BaseModel, ConfigDict, Field

_FORWARDED_EXAMPLE: dict[str, Any] = {
    "type": "ad1.forwarded",
    "timestamp": "2026-03-01T10:02:00.412Z",
    "data": {
        "alert_id": "DCC-AD1-000123",
        "chf_id": "00-DB-12-34-56-78-90-A0",
        "esme_id": "00-DB-12-34-56-78-90-A1",
        "mpan": "1200000000017",
        "network_operator": "12",
        "event_at": "2026-03-01T10:01:58Z",
        "received_at": "2026-03-01T10:02:00.210Z",
        "decided_at": "2026-03-01T10:02:00.213Z",
        "reason": "no_active_window",
        "message": {
            "type": "ad1",
            "alert_id": "DCC-AD1-000123",
            "chf_id": "00-DB-12-34-56-78-90-A0",
            "event_at": "2026-03-01T10:01:58Z",
        },
    },
}
_RELEASED_EXAMPLE: dict[str, Any] = {
    "type": "ad1.released",
    "timestamp": "2026-03-01T10:22:00.120Z",
    "data": {
        **{k: v for k, v in _FORWARDED_EXAMPLE["data"].items() if k != "message"},
        "reason": "firmware_activation_window",
        "released_at": "2026-03-01T10:22:00Z",
        "release_reason": "no_sign_of_life",
        "activation_request_id": "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A1:1",
        "activation_originator": "90-B3-D5-1F-30-01-00-00",
        "window_start": "2026-03-01T09:55:00Z",
        "window_end": "2026-03-01T10:25:00Z",
        "message": "<sr:Response>… the DUIS message as received …</sr:Response>",
    },
}


class AlertPayloadData(BaseModel):
    """The AD1: as decided, how it was routed (R8), for a release when and why, and the DSP's
    message as received."""

    model_config = ConfigDict(extra="allow")

    alert_id: str
    chf_id: str = Field(description="The hub (Communications Hub Function).")
    esme_id: str | None = Field(description="The ESME the hub is joined to (R8).")
    mpan: str | None = Field(description="The ESME's MPAN, when the inventory has one.")
    network_operator: str = Field(description="The DNO's id, two digits from 10.")
    event_at: datetime = Field(description="When the power went (the DSP's, or received_at).")
    received_at: datetime = Field(description="When poagate received the message.")
    decided_at: datetime = Field(
        description="When poagate decided it: for a release, when it was suppressed."
    )
    reason: str = Field(
        description="no_active_window, area_outage_evidence, suppression_suspended (forwarded "
        "at once), or for a release the rule that had suppressed it."
    )
    released_at: datetime | None = Field(None, description="ad1.released only.")
    release_reason: str | None = Field(
        None,
        description="ad1.released only: no_sign_of_life, area_outage_evidence, "
        "no_answer_to_verification, operator.",
    )
    activation_request_id: str | None = Field(None, description="ad1.released only.")
    activation_originator: str | None = Field(None, description="ad1.released only.")
    window_start: datetime | None = Field(None, description="ad1.released only.")
    window_end: datetime | None = Field(None, description="ad1.released only.")
    message: dict[str, Any] | str = Field(
        description="The DSP's message as received: the JSON object, or the DUIS XML as a string."
    )


class AlertPayload(BaseModel):
    """The body of a webhook delivery (Standard Webhooks payload shape)."""

    model_config = ConfigDict(
        extra="allow", json_schema_extra={"examples": [_FORWARDED_EXAMPLE, _RELEASED_EXAMPLE]}
    )

    type: Literal["ad1.forwarded", "ad1.released"]
    timestamp: datetime = Field(description="When this payload was made (its attempt).")
    data: AlertPayloadData


def document_webhooks(app: FastAPI) -> None:
    """Declare the webhook in ``app``'s OpenAPI description (nothing is served)."""

    @app.webhooks.post(
        "ad1",
        summary="A forwarded or released AD1, POSTed to the DNO's webhook",
        description="Sent to `delivery.webhooks.<network operator>.url`, signed by the "
        "Standard Webhooks scheme: `webhook-id` (the alert_id, the same on every retry; "
        "also `Idempotency-Key`), `webhook-timestamp`, `webhook-signature` (`v1,` and the "
        "base64 HMAC-SHA256 of `id.timestamp.body` with the secret). Any 2xx answer is a "
        "delivery; a DNO configured with `format: original` receives the DSP's message alone "
        "(its own content type) instead of this payload. See docs/webhooks.md.",
        tags=["webhooks"],
    )
    def ad1(
        payload: AlertPayload,
        webhook_id: Annotated[str, Header(alias="webhook-id")],
        webhook_timestamp: Annotated[str, Header(alias="webhook-timestamp")],
        webhook_signature: Annotated[str, Header(alias="webhook-signature")],
    ) -> None:
        """Documentation only."""
