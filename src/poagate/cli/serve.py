"""``poagate serve``: the HTTP API under uvicorn (imported only when the command runs)."""

from __future__ import annotations

from typing import Annotated

import typer

from poagate.cli.shared import fail, store_errors

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def serve(
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            "--db",
            envvar="POAGATE_DATABASE",
            help="sqlite:///path.db, a file path, or postgresql://user@host:port/db "
            "(default: poagate.db).",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(envvar="POAGATE_HOST", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=1, max=65535, envvar="POAGATE_PORT", help="Port to listen on.")
    ] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, envvar="POAGATE_WORKERS", help="Server processes.")
    ] = 1,
    deliveries: Annotated[
        bool,
        typer.Option(
            envvar="POAGATE_DELIVERIES", help="Deliver forwarded AD1s to the DNOs' webhooks."
        ),
    ] = True,
    log_level: Annotated[
        str,
        typer.Option(envvar="POAGATE_LOG_LEVEL", help="debug, info, warning or error."),
    ] = "info",
    forwarded_allow_ips: Annotated[
        str,
        typer.Option(
            envvar="POAGATE_FORWARDED_ALLOW_IPS",
            help="The proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: "
            "addresses or networks, comma-separated, or * for any (only when nothing but the "
            "proxy can reach poagate).",
        ),
    ] = "127.0.0.1",
    public_origin: Annotated[
        list[str] | None,
        typer.Option(
            envvar="POAGATE_PUBLIC_ORIGIN",
            help="An origin browsers reach the console at through a proxy, such as "
            "https://poagate.example.org: its sign-in form is accepted whatever Host the "
            "proxy sends on. May be given more than once.",
        ),
    ] = None,
    session_lifetime_hours: Annotated[
        float,
        typer.Option(
            min=0.1,
            max=24 * 30,
            envvar="POAGATE_SESSION_LIFETIME_HOURS",
            help="How long a console session lasts at most after sign-in, however busy.",
        ),
    ] = 12.0,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) on the store."""
    import dataclasses
    import os
    import shutil
    import tempfile

    import uvicorn

    from poagate.api.accepting import BOARD_ENV, Board
    from poagate.api.options import ServerOptions, public_origins
    from poagate.store.database import default_database, open_store

    # Every option may come from the environment (its POAGATE_* variable, shown in --help);
    # the options without a flag (poll intervals, pool sizes, limits) come from it too.
    if log_level.lower() not in LOG_LEVELS:
        fail(f"--log-level must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}")
    base = ServerOptions.from_env()
    try:
        origins = public_origins([o for given in public_origin or [] for o in given.split(",")])
    except ValueError as exc:
        fail(f"--public-origin: {exc}")
    options = dataclasses.replace(
        base,
        database=database or base.database or default_database(),
        deliveries=deliveries,
        log_level=log_level.upper(),
        public_origins=origins,
        session_lifetime_hours=session_lifetime_hours,
    )
    # A store that is missing, not poagate's or of another revision is refused here, with
    # what to run (poagate db init / db upgrade): serving never creates or migrates one.
    with store_errors():
        open_store(options.database, "service").close()
    os.environ.update(options.to_env())
    metrics_dir = None
    loop = "auto"  # uvloop
    if workers > 1:
        metrics_dir = tempfile.mkdtemp(prefix="poagate-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        # The workers share the listening socket and spread its connections between them by
        # their counts on a board (poagate.api.accepting), not by who wakes first.
        board = os.path.join(tempfile.mkdtemp(prefix="poagate-accept-"), "board")
        Board.create(board, slots=2 * workers)
        os.environ[BOARD_ENV] = board
        loop = "poagate.api.accepting:BalancedLoop"
    try:
        uvicorn.run(
            "poagate.api.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop=loop,
            ws="none",  # no WebSocket routes: an upgrade request is answered as plain HTTP
            log_config=None,
            log_level=log_level.lower(),
            access_log=False,
            timeout_graceful_shutdown=30,
            # X-Forwarded-Proto and -For from these proxies only (docs/security.md).
            proxy_headers=True,
            forwarded_allow_ips=forwarded_allow_ips,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
            shutil.rmtree(os.path.dirname(os.environ.pop(BOARD_ENV)), ignore_errors=True)
