"""The delivery worker's metrics (prometheus-client's registry; ``/metrics`` shows them)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

DELIVERIES = Counter(
    "poagate_delivery_attempts_total", "Webhook delivery attempts, by result.", ["result"]
)
ROUNDS = Counter(
    "poagate_delivery_rounds_total",
    "Rounds of the delivery worker completed (claim, send, record), whatever they found.",
)
LAST_ROUND = Gauge(
    "poagate_delivery_last_round_timestamp_seconds",
    "When the delivery worker last completed a round (Unix time); a stale value means the "
    "worker is stuck or paused.",
    multiprocess_mode="max",
)
