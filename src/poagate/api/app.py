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
import gc
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from fastapi import FastAPI

from poagate import __version__
from poagate.api.context import AppContext, ReadPool
from poagate.api.maintenance import run_maintenance
from poagate.api.observability.counters import (
    RELEASE_PASSES,
    VERIFICATION_PASSES,
    VERIFICATION_PUSHED,
    observe_group,
    observe_releases,
    observe_verifications,
)
from poagate.api.observability.gauges import StoreGauges, store_figures
from poagate.api.observability.middleware import RequestContext
from poagate.api.options import ServerOptions
from poagate.api.problems import HANDLERS
from poagate.api.tokens import TokenCache
from poagate.formats.settings import Settings
from poagate.service.ingest import Ingestor
from poagate.service.maintenance import owner
from poagate.service.releases import release_dark
from poagate.service.verifications import Verifying
from poagate.store.database import open_store

log = logging.getLogger("poagate.api")


def webhook_operators(settings: Settings) -> frozenset[str]:
    """The network operators whose AD1s go to a webhook (those with one configured)."""
    return frozenset(settings.delivery.webhooks)


def settle_memory() -> None:
    """Take what the process holds once started (modules, the framework, the ingestor's store)
    out of the cyclic garbage collector's full passes (spec §16). Each full pass walked all of
    it: under 32 connections of single AD1s a pass came every 0.6 s and stopped every thread
    for 60-150 ms, a stall in every request then in flight (docs/performance.md). Frozen objects
    are still freed when nothing refers to them; only cycles among them would stay."""
    gc.collect()
    gc.freeze()


def create_app(options: ServerOptions | None = None) -> FastAPI:
    options = options or ServerOptions.from_env()
    ingestor = Ingestor(
        lambda: open_store(options.database, "service", options.busy_timeout_ms),
        options.clock,
        webhooks=webhook_operators,
        observe=observe_group,
        on_release=observe_releases,
    )
    context = AppContext(
        options,
        ingestor,
        ReadPool(options.database, options.read_connections),
        TokenCache(options.token_cache_seconds),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(ingestor.start)  # opens the store first (never makes one)
        if options.settle_memory:
            settle_memory()
        delivery_task = None
        if options.deliveries:
            from poagate.delivery.worker import run_deliveries, supervise

            delivery_task = asyncio.create_task(
                supervise(
                    lambda: run_deliveries(
                        options.database,
                        options.clock,
                        options.delivery_poll_seconds,
                        context.deliveries,
                    ),
                    context.deliveries,
                ),
                name="deliveries",
            )
        release_task = asyncio.create_task(run_releases(context), name="release-if-dark")
        verify_task = asyncio.create_task(run_verifications(context), name="verification")
        maintenance_task = asyncio.create_task(run_maintenance(context), name="maintenance")
        push_task = asyncio.create_task(run_dsp_push(context), name="dsp-push")
        log.info("poagate %s serving %s", __version__, open_location(options.database))
        try:
            yield
        finally:
            for task in (release_task, verify_task, push_task, maintenance_task, delivery_task):
                if task is not None:
                    task.cancel()
                    try:
                        await task
                    except asyncio.CancelledError:
                        pass
                    except Exception:  # a background task's end never stops the shutdown
                        log.exception("background task %s had failed", task.get_name())
            await asyncio.to_thread(ingestor.stop)
            context.reads.close()

    app = FastAPI(
        title="poagate",
        version=__version__,
        summary="Suppresses firmware-caused Power Outage Alerts and keeps each DNO's "
        "Suppression Log (SEC MP102B).",
        lifespan=lifespan,
        # /docs is served below with Swagger UI's assets from poagate itself (no CDN).
        docs_url=None,
        redoc_url=None,
    )
    serve_docs(app)
    from poagate.api.webhooks import document_webhooks

    document_webhooks(app)  # what a DNO's webhook receives (spec §18), in /openapi.json
    app.state.context = context
    for exception, handler in HANDLERS.items():
        app.add_exception_handler(exception, handler)
    app.add_middleware(
        RequestContext,
        body_limit=options.body_limit_bytes,
        reference_limit=options.reference_limit_bytes,
    )

    from poagate.api import (
        routes_admin,
        routes_controls,
        routes_ingest,
        routes_ops,
        routes_read,
        routes_reference,
        routes_verifications,
    )

    app.state.gauges = StoreGauges(lambda: store_figures(context))
    # routes_read before routes_controls: /v1/alerts/forwarded is the feed, not an alert id.
    modules = (
        routes_ingest,
        routes_read,
        routes_controls,
        routes_admin,
        routes_reference,
        routes_ops,
        routes_verifications,
    )
    for module in modules:
        app.include_router(module.router)

    from poagate.api.console import install

    install(app)  # the console's pages at /ui/ (spec §13)
    return app


async def run_releases(context: AppContext) -> None:
    """The release-if-dark pass (spec §9), every ``release_poll_seconds``, on the writer
    connection in turn with the decisions; it does nothing while the guard is off."""
    clock = context.options.clock
    while True:
        await asyncio.sleep(context.options.release_poll_seconds)
        try:
            released = await context.ingestor.call(
                lambda store: release_dark(store, clock()), "release"
            )
        except Exception:
            log.exception("the release-if-dark pass failed; it runs again")
            continue
        finally:
            context.release_passes += 1
            RELEASE_PASSES.inc()
        if released:
            observe_releases(released)
            log.info("released %d suppressed AD1s", len(released))


def serve_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI with its script and styles served by poagate from the
    ``swagger-ui-py`` package's copy, so the page works on a network without the internet."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    app.mount("/docs/assets", StaticFiles(directory=swagger_ui_assets()), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="poagate API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )


def swagger_ui_assets() -> str:
    """The folder of Swagger UI's built files in the ``swagger-ui-py`` package (found without
    importing it: its ``__init__`` loads adapters for other frameworks)."""
    import importlib.util
    import os

    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is missing: reinstall poagate")
    return os.path.join(next(iter(spec.submodule_search_locations)), "static")


async def run_verifications(context: AppContext) -> None:
    """The verification pass (spec §14), every ``verification_poll_seconds``, on the writer
    connection in turn with the decisions; it does nothing while the guard is off. The push
    to the DSP runs beside it (``run_dsp_push``): a slow DSP never delays a release."""
    clock, me = context.options.clock, owner()
    # Half an interval: with several servers, one pass an interval among them (the module
    # docstring of ``service.verifications``).
    within = timedelta(seconds=context.options.verification_poll_seconds / 2)
    while True:
        await asyncio.sleep(context.options.verification_poll_seconds)
        try:
            # A step at a time, each its own job: this server's groups are decided between.
            verifying = Verifying(clock, me, within)
            while not await context.ingestor.call(verifying.step, "verification"):
                pass
            done = verifying.done
            observe_verifications(done)
            if done.released:
                log.info("released %d suppressed AD1s", len(done.released))
        except Exception:
            log.exception("the verification pass failed; it runs again")
        finally:
            context.verification_passes += 1
            VERIFICATION_PASSES.inc()


async def run_dsp_push(context: AppContext) -> None:
    """The push of new verification requests to the DSP's webhook when one is configured,
    every ``verification_poll_seconds``, in a task of its own (spec §16: a receiver holds
    only its own deliveries)."""
    from poagate.delivery.dsp_push import push_verifications
    from poagate.delivery.exchange import checked_client

    clock = context.options.clock
    async with checked_client() as client:
        while True:
            await asyncio.sleep(context.options.verification_poll_seconds)
            try:
                settings = await context.ingestor.call(lambda store: store.reference.settings())
                pushed = await push_verifications(context.ingestor.call, settings, client, clock)
                VERIFICATION_PUSHED.inc(pushed)
            except Exception:
                log.exception("the push to the DSP failed; it runs again")
            finally:
                context.push_passes += 1


def open_location(database: str) -> str:
    from poagate.store.postgres import redact

    return redact(database)


def app_from_env() -> FastAPI:
    """The factory uvicorn calls in each worker process (``poagate serve``)."""
    from poagate.api.observability.logs import configure_logging

    options = ServerOptions.from_env()
    options.settle_memory = True
    configure_logging(options.log_level)
    return create_app(options)
