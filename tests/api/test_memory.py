"""A server process takes what it holds once started out of the garbage collector's full passes
(spec §16): each pass walked all of it, and under load stopped every request in flight for
60-150 ms a pass (docs/performance.md, "Capacity on PostgreSQL")."""

from __future__ import annotations

import gc
import logging
import os

import pytest
from fastapi.testclient import TestClient

from poagate.api.app import app_from_env, create_app
from poagate.api.options import ServerOptions


def test_a_server_process_freezes_what_it_holds_once_started(database: str) -> None:
    gc.unfreeze()
    options = ServerOptions(database=database, deliveries=False, settle_memory=True)
    try:
        with TestClient(create_app(options)):
            assert gc.get_freeze_count() > 10_000  # the framework, its routes, the store
    finally:
        gc.unfreeze()  # this process (pytest) goes on: its objects are collected as before


def test_an_application_made_in_another_process_leaves_the_collector_alone(
    database: str,
) -> None:
    gc.unfreeze()
    with TestClient(create_app(ServerOptions(database=database, deliveries=False))):
        assert gc.get_freeze_count() == 0


def test_serve_s_workers_settle_their_memory(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(os.environ, "POAGATE_DATABASE", database)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        app = app_from_env()  # it configures logging as a server's: this process's is put back
    finally:
        root.handlers[:], root.level = handlers, level
        logging.getLogger("uvicorn.access").disabled = False
    assert app.state.context.options.settle_memory
