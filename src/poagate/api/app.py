"""The FastAPI application: one per server process (``poagate serve`` may start several).

On start it opens the writer connection (the ingestor's thread, which also runs admin changes
in turn with decisions), a small pool of read connections, and — unless switched off — the
delivery worker. On shutdown uvicorn first stops accepting requests and lets those in flight
finish; then the ingestor decides everything already submitted, the delivery worker stops,
and the connections close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from poagate import __version__
from poagate.api.context import AppContext, ReadPool
from poagate.api.observability import (
    RELEASE_PASSES,
    RequestContext,
    StoreGauges,
    observe_group,
    observe_releases,
)
from poagate.api.problems import HANDLERS
from poagate.api.settings import Settings
from poagate.api.tokens import TokenCache
from poagate.service.ingest import Ingestor
from poagate.service.releases import release_dark
from poagate.store.database import open_store

log = logging.getLogger("poagate.api")


def webhook_operators(settings: dict[str, Any]) -> frozenset[str]:
    delivery = settings.get("delivery") or {}
    return frozenset((delivery.get("webhooks") or {}).keys())


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    ingestor = Ingestor(
        lambda: open_store(settings.database, "service", settings.busy_timeout_ms),
        settings.clock,
        webhooks=webhook_operators,
        observe=observe_group,
        on_release=observe_releases,
    )
    context = AppContext(
        settings,
        ingestor,
        ReadPool(settings.database, settings.read_connections),
        TokenCache(settings.token_cache_seconds),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(ingestor.start)  # opens (and migrates) the database first
        delivery_task = None
        if settings.deliveries:
            from poagate.delivery.worker import run_deliveries

            delivery_task = asyncio.create_task(
                run_deliveries(
                    settings.database,
                    settings.clock,
                    settings.delivery_poll_seconds,
                    context.deliveries,
                ),
                name="deliveries",
            )
        release_task = asyncio.create_task(run_releases(context), name="release-if-dark")
        log.info("poagate %s serving %s", __version__, open_location(settings.database))
        try:
            yield
        finally:
            for task in (release_task, delivery_task):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await asyncio.to_thread(ingestor.stop)
            context.reads.close()

    app = FastAPI(
        title="poagate",
        version=__version__,
        summary="Suppresses firmware-caused Power Outage Alerts and keeps each DNO's "
        "Suppression Log (SEC MP102B).",
        lifespan=lifespan,
    )
    app.state.context = context
    for exception, handler in HANDLERS.items():
        app.add_exception_handler(exception, handler)
    app.add_middleware(
        RequestContext,
        body_limit=settings.body_limit_bytes,
        reference_limit=settings.reference_limit_bytes,
    )

    from poagate.api import routes_admin, routes_ingest, routes_ops, routes_read, routes_reference

    app.state.gauges = StoreGauges(lambda: store_figures(context))
    for module in (routes_ingest, routes_read, routes_admin, routes_reference, routes_ops):
        app.include_router(module.router)
    return app


async def run_releases(context: AppContext) -> None:
    """The release-if-dark pass (SPEC §9), every ``release_poll_seconds``, on the writer
    connection in turn with the decisions; it does nothing while the guard is off."""
    clock = context.settings.clock
    while True:
        await asyncio.sleep(context.settings.release_poll_seconds)
        try:
            released = await context.ingestor.call(lambda store: release_dark(store, clock()))
        except Exception:
            log.exception("the release-if-dark pass failed; it runs again")
            continue
        finally:
            context.release_passes += 1
            RELEASE_PASSES.inc()
        if released:
            observe_releases(released)
            log.info("released %d suppressed AD1s (SPEC §9)", len(released))


def open_location(database: str) -> str:
    from poagate.store.postgres import redact

    return redact(database)


def store_figures(context: AppContext) -> dict[str, Any]:
    now = context.settings.clock()
    with context.reads.borrow() as store:
        return {"open_windows": store.reads.open_windows(now), "deliveries": store.outbox.counts()}


def app_from_env() -> FastAPI:
    """The factory uvicorn calls in each worker process (``poagate serve``)."""
    from poagate.api.observability import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    return create_app(settings)
