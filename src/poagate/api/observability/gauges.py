"""Figures that belong to the database rather than a process (open windows, the delivery queue,
unrouted AD1s, the suppression switch, the verification queue, the last maintenance pass and
the store's size), read from it when ``/metrics``
is scraped, and the exposition of every metric."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from poagate.api.context import AppContext
from poagate.domain.values import value


@value
class StoreFigures:
    """What the gauges show, read in one borrow of a read connection."""

    open_windows: int
    deliveries: dict[str, int]  # by status
    ad1_unrouted: int
    suppression_enabled: bool
    verifications_pending: int
    oldest_verification_seconds: float  # 0 when none is pending
    last_maintenance: datetime | None  # when the last maintenance pass ended (spec §15)
    database_bytes: int  # the store on disk


def store_figures(context: AppContext) -> StoreFigures:
    """The figures as they stand now, read on one of the process's read connections."""
    now = context.options.clock()
    with context.reads.borrow() as store:
        pending, oldest = store.verifications.queue_figures()
        return StoreFigures(
            open_windows=store.activations.open_windows(now),
            deliveries=store.outbox.counts(),
            ad1_unrouted=store.listings.unrouted_count(),
            suppression_enabled=store.reference.config().suppression_enabled,
            verifications_pending=pending,
            oldest_verification_seconds=(
                0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
            ),
            last_maintenance=store.last_maintenance(),
            database_bytes=store.size_bytes(),
        )


class StoreGauges(Collector):
    """Gauges read from the database at scrape time."""

    def __init__(self, read: Callable[[], StoreFigures]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures = self._read()
        windows = GaugeMetricFamily(
            "poagate_open_windows", "Windows of usable activations containing now."
        )
        windows.add_metric([], figures.open_windows)
        yield windows
        queue = GaugeMetricFamily(
            "poagate_delivery_queue", "Deliveries to DNO webhooks, by status.", labels=["status"]
        )
        for status in ("pending", "held", "delivered", "dead"):
            queue.add_metric([status], figures.deliveries.get(status, 0))
        yield queue
        unrouted = GaugeMetricFamily(
            "poagate_ad1_unrouted",
            "Forwarded AD1s that reached no DNO: no ESME of the inventory is joined to their "
            "hub (R8). GET /v1/alerts/unrouted lists them.",
        )
        unrouted.add_metric([], figures.ad1_unrouted)
        yield unrouted
        enabled = GaugeMetricFamily(
            "poagate_suppression_enabled",
            "1 while the gate suppresses, 0 while an operator has suspended it.",
        )
        enabled.add_metric([], 1 if figures.suppression_enabled else 0)
        yield enabled
        waiting = GaugeMetricFamily(
            "poagate_verification_queue",
            "Verification requests pending for the DSP.",
        )
        waiting.add_metric([], figures.verifications_pending)
        yield waiting
        age = GaugeMetricFamily(
            "poagate_verification_queue_age_seconds",
            "How long the oldest pending verification request has waited (0 when none).",
        )
        age.add_metric([], figures.oldest_verification_seconds)
        yield age
        last = GaugeMetricFamily(
            "poagate_maintenance_last_run_timestamp_seconds",
            "When the last maintenance pass of any server ended (Unix time; 0 before the first).",
        )
        ended = figures.last_maintenance
        last.add_metric([], 0.0 if ended is None else ended.timestamp())
        yield last
        size = GaugeMetricFamily(
            "poagate_database_size_bytes",
            "The store on disk: SQLite's file and its write-ahead log, or the tables and indexes "
            "of poagate's PostgreSQL schema.",
        )
        size.add_metric([], figures.database_bytes)
        yield size


def metrics_payload(gauges: Collector) -> tuple[bytes, str]:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(gauges)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    registry.register(gauges)
    return generate_latest(REGISTRY) + generate_latest(registry), CONTENT_TYPE_LATEST
