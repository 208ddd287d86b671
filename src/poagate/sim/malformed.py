"""Malformed lines a simulated month carries on purpose: each must be rejected and kept."""

from __future__ import annotations

import random

import orjson


def malformed_line(rng: random.Random, number: int, stamp: str, chf_id: str) -> bytes:
    """One of seven kinds of bad line (without its newline)."""
    choice = rng.randrange(7)
    lines: list[bytes] = [
        b'{"type":"ad1","alert_id":"BROKEN-' + str(number).encode() + b'",',
        orjson.dumps({"type": "ad1", "alert_id": f"X-{number}", "received_at": stamp}),
        orjson.dumps(
            {
                "type": "ad1",
                "alert_id": f"X-{number}",
                "chf_id": "not-a-device",
                "received_at": stamp,
            }
        ),
        orjson.dumps(
            {"type": "ad1", "alert_id": f"X-{number}", "chf_id": chf_id, "received_at": stamp[:-1]}
        ),
        orjson.dumps({"type": "meter_reading", "received_at": stamp}),
        orjson.dumps({"type": "activation", "request_id": "12345", "received_at": stamp}),
        orjson.dumps(["ad1", stamp]),
    ]
    return lines[choice]
