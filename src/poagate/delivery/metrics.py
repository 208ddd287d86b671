"""The delivery worker's metrics (prometheus-client's registry; ``/metrics`` shows them)."""

from __future__ import annotations

from prometheus_client import Counter

DELIVERIES = Counter(
    "poagate_delivery_attempts_total", "Webhook delivery attempts, by result.", ["result"]
)
