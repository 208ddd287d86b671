"""The soak benchmark's own tallies (benchmarks/soaklib.py): the checks test_soak.py relies on
must be able to fail. The receivers, in their own process as in a soak, count a message that
reached another DNO's receiver and one with a bad signature; the servers' tail is computed
from their histograms' buckets."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks import Webhook

from poagate.delivery.signing import new_secret

# benchmarks/ holds http.py, which would shadow the standard library's http package: last.
sys.path.append(str(Path(__file__).resolve().parents[2] / "benchmarks"))

import soaklib


def _signed(secret: str, alert_id: str, body: bytes) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "webhook-id": alert_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(alert_id, now, body.decode()),
        "Content-Type": "application/json",
    }


def test_the_receivers_count_a_message_at_the_wrong_dno_and_a_bad_signature() -> None:
    secrets = {"10": new_secret(), "11": new_secret()}
    receivers = soaklib.ReceiverProcess(["10", "11"], secrets)
    try:
        for operator, alert_id, secret in (
            ("10", "A-1", secrets["10"]),  # its own DNO
            ("11", "A-2", secrets["11"]),  # A-2 is DNO 10's: the wrong receiver
            ("11", "A-3", secrets["10"]),  # signed with another DNO's secret
        ):
            body = b'{"alertId": "%s"}' % alert_id.encode()
            answer = httpx.post(
                receivers.urls[operator],
                content=body,
                headers=_signed(secret, alert_id, body),
                timeout=10,
            )
            assert answer.status_code == 200
        tally = receivers.finish({"A-1": "10", "A-2": "10", "A-3": "11"})
    finally:
        receivers.stop()
    assert tally.received == {"A-1": 1, "A-2": 1, "A-3": 1}
    assert tally.by_operator == {"10": 1, "11": 2}
    assert tally.wrong_operator == 1
    assert tally.bad_signatures == 1
    assert set(tally.anomalies) == {"A-3"}


def test_the_servers_tail_is_read_from_their_buckets() -> None:
    sampler = soaklib.ServerSampler([], "")
    family = "poagate_http_request_duration_seconds"
    before: dict[str, float] = {f"bucket {family} {le}": 0.0 for le in ("0.05", "0.1", "0.25")}
    before[f"bucket {family} +Inf"] = 0.0
    # 1,000 requests: 985 within 50 ms, 10 within 100, 3 within 250, 2 beyond.
    after = {
        f"bucket {family} 0.05": 985.0,
        f"bucket {family} 0.1": 995.0,
        f"bucket {family} 0.25": 998.0,
        f"bucket {family} +Inf": 1000.0,
    }
    sampler.snapshots = [before, after]
    rows: list[dict[str, Any]] = sampler.tails()
    assert rows == [
        {"messages": {"count": 1000, "over_100ms": 5, "over_250ms": 2, "p99_bucket_ms": 100}}
    ]


def test_the_calm_minutes_steadiness_leaves_out_the_minutes_the_vm_was_short_of_cpu() -> None:
    # minute, p99, CPU stolen: the bar over every minute after warm-up, and beside it the same
    # over the minutes with under 2% stolen.
    minutes = ((1, 900.0, 25.0), (2, 60.0, 0.5), (3, 80.0, 1.9), (4, 300.0, 12.0), (5, 70.0, 0.0))
    rows = [
        {"minute": m, "requests": 600, "p99_ms": p99, "steal_percent": steal}
        for m, p99, steal in minutes
    ]
    every = soaklib.steadiness(rows, warmup=1)
    assert every == {
        "median_p99_ms": 80.0,
        "worst_p99_ms": 300.0,
        "worst_over_median": 3.75,
        "minutes": 4,
    }
    calm = soaklib.steadiness(rows, warmup=1, calm_only=True)
    assert calm == {
        "median_p99_ms": 70.0,
        "worst_p99_ms": 80.0,
        "worst_over_median": 1.14,
        "minutes": 3,
    }
    # Minutes recorded before the steal was (no steal_percent) are never calm.
    assert soaklib.steadiness([{"minute": 2, "requests": 1, "p99_ms": 1.0}], 1, True) == {}
