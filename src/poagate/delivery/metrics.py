"""The delivery worker's metrics (prometheus-client's registry; ``/metrics`` shows them)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

DELIVERIES = Counter(
    "poagate_delivery_attempts_total", "Webhook delivery attempts, by result.", ["result"]
)
FAILED_ATTEMPTS = Counter(
    "poagate_delivery_failed_attempts_total",
    "Failed webhook delivery attempts (each is logged: delivery, DNO, error, next attempt), "
    "by network operator. A steady rise for one DNO means its receiver is down or refusing.",
    ["network_operator"],
)
ROUNDS = Counter(
    "poagate_delivery_rounds_total",
    "Rounds of the delivery worker completed (claim, send, record), whatever they found.",
)
LAST_ROUND = Gauge(
    "poagate_delivery_last_round_timestamp_seconds",
    "When the delivery worker last completed a round's work (Unix time): its last successful "
    "pass. A stale value means the worker is stuck or the store is unreachable.",
    multiprocess_mode="max",
)
ROUND_ERRORS = Counter(
    "poagate_delivery_round_errors_total",
    "Rounds of the delivery worker that failed for a reason other than the store (logged).",
)
RESTARTS = Counter(
    "poagate_delivery_worker_restarts_total",
    "Times the delivery worker's loop ended and was started again (logged).",
)
