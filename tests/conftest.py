"""Fixtures every test folder may use: the backends the store and the API run on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api_harness import Receiver, serve
from tests.figures import FIGURES
from tests.pg import PostgresServer


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL server for the whole session (see tests/pg.py)."""
    server = PostgresServer()
    try:
        server.start()
    except Exception:
        server.stop()
        raise
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty store on each backend in turn: a SQLite file or a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'poagate.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.fresh_database()


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server of its own, for a test that stops it."""
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    """A DNO's webhook receiver on loopback (tests/api_harness.py) and its URL."""
    r = Receiver()
    server, url = serve(r)
    yield r, url
    server.shutdown()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under pytest-xdist, a worker hands its figures to the controller, which prints them."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["figures"] = list(FIGURES)


def pytest_testnodedown(node: object, error: object) -> None:
    """The controller collects each worker's figures (pytest-xdist's hook)."""
    FIGURES.extend(getattr(node, "workeroutput", {}).get("figures", []))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures the fuzzing and fault tests recorded (tests/figures.py), at the end."""
    if FIGURES:
        terminalreporter.section("figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
