"""The payload a DNO's webhook receives (spec §18) agrees with the schema the OpenAPI description
publishes for it, for a forwarded AD1 (JSON message) and a released one (DUIS message), and the
published examples are payloads of that schema too."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson

from poagate.api.webhooks import AlertPayload
from poagate.domain.outcomes import ForwardedAlert, SuppressionEntry
from poagate.formats.envelope import RELEASE_FIELDS, envelope
from tests.helpers import ts

AT = ts("2026-03-01T10:00:00Z")
FORWARDED = ForwardedAlert("A-1", "00-DB-12-00-00-00-00-A0", "12", AT, AT, AT)
RELEASED = SuppressionEntry(
    "A-2",
    "00-DB-12-00-00-00-00-A0",
    "00-DB-12-00-00-00-00-12",
    "1200000000017",
    "12",
    AT,
    AT,
    AT,
    "REQ-1",
    "90-B3-D5-1F-30-01-00-00",
    AT - timedelta(minutes=5),
    AT + timedelta(minutes=25),
    released_at=AT + timedelta(minutes=20),
    release_reason="no_sign_of_life",
)


def test_a_forwarded_ad1_carries_its_fields_and_the_dsps_json_message() -> None:
    message = b'{"type":"ad1","alert_id":"A-1","chf_id":"00-DB-12-00-00-00-00-A0"}'
    esme, mpan = "00-DB-12-00-00-00-00-12", "1200000000017"
    body = envelope(FORWARDED, esme, mpan, "application/json", message, AT + timedelta(seconds=1))
    payload: dict[str, Any] = orjson.loads(body)
    AlertPayload.model_validate(payload)
    assert payload["type"] == "ad1.forwarded"
    assert payload["timestamp"] == "2026-03-01T10:00:01Z"
    data = payload["data"]
    assert data["message"] == orjson.loads(message)
    assert (data["esme_id"], data["mpan"], data["reason"]) == (esme, mpan, "no_active_window")
    assert not set(RELEASE_FIELDS) & set(data)  # a forward has no release


def test_a_released_ad1_says_when_and_why_and_carries_the_duis_message_as_text() -> None:
    xml = b"<sr:Response>\xc3\xa9</sr:Response>"
    body = envelope(RELEASED, None, None, "application/xml", xml, AT + timedelta(minutes=21))
    payload = AlertPayload.model_validate_json(body)
    assert payload.type == "ad1.released"
    data = payload.data
    assert data.message == xml.decode()
    assert (data.released_at, data.release_reason) == (
        AT + timedelta(minutes=20),
        "no_sign_of_life",
    )
    assert data.decided_at == AT  # the decision, not the release
    assert (data.activation_request_id, data.window_end) == ("REQ-1", AT + timedelta(minutes=25))


def test_the_published_examples_are_payloads_of_the_published_schema() -> None:
    examples = AlertPayload.model_json_schema()["examples"]
    assert [e["type"] for e in examples] == ["ad1.forwarded", "ad1.released"]
    for example in examples:
        AlertPayload.model_validate(example)
