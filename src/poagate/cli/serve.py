"""``poagate serve``: the HTTP API under uvicorn (imported only when the command runs)."""

from __future__ import annotations

from typing import Annotated

import typer

from poagate.cli.shared import FAILURE, DatabaseOption, fail
from poagate.store import StoreError


def serve(
    database: DatabaseOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Server processes.")] = 1,
    deliveries: Annotated[
        bool, typer.Option(help="Deliver forwarded AD1s to the DNOs' webhooks.")
    ] = True,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) on the store."""
    import dataclasses
    import os
    import shutil
    import tempfile

    import uvicorn

    from poagate.api.settings import Settings
    from poagate.store.database import default_database, open_store

    # What the environment sets (POAGATE_*: poll intervals, pool sizes), the options over it.
    base = Settings.from_env()
    settings = dataclasses.replace(
        base,
        database=database or base.database or default_database(),
        deliveries=deliveries,
        log_level=log_level.upper(),
    )
    try:
        open_store(settings.database, "service").close()  # create or migrate it, once
    except (StoreError, OSError) as exc:
        fail(str(exc), FAILURE)
    os.environ.update(settings.to_env())
    metrics_dir = None
    if workers > 1:
        metrics_dir = tempfile.mkdtemp(prefix="poagate-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run(
            "poagate.api.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            log_level=log_level,
            access_log=False,
            timeout_graceful_shutdown=30,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
