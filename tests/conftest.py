"""Fixtures every test folder may use: the backends the store and the API run on, the template
stores they are copied from (tests/stores.py), and the tiers of the suite.

The rule for backends: a test runs on both SQLite and PostgreSQL when what it checks could
differ between them — SQL, transactions, locks, connections — and on SQLite alone when it
checks what is above the store. So on both: the store contract suite (tests/decision_path/:
the decision path on the in-memory fake, SQLite and PostgreSQL), the store and its migrations
(tests/integration/, through ``database``), the guards' agreement of the service with a
replay, several ``poagate serve`` processes on one store (tests/api/test_processes.py,
test_controls_processes.py, a console session across two servers) and the few HTTP tests about
connections (the read pool, a commit another connection sees) — those of tests/api/ and
tests/console/ carry ``on_both_backends`` (tests/stores.py). On PostgreSQL alone: a database
that stops (tests/faults/, test_ops.py), which SQLite cannot. On SQLite alone: HTTP and the
console (tests/api/, tests/console/, whose ``database`` is a copy of the seeded SQLite
template): their store calls are the subject of the store's own tests, on both backends.

The tiers: ``make check`` runs the tests marked ``fast`` (pytest -m fast): every test under a
folder of ``FAST_FOLDERS`` but the store contract suite's (marker ``contract``: the decision
path's tests on SQLite and PostgreSQL, whose runs on the in-memory fake are fast), and any test
elsewhere that carries ``@pytest.mark.fast`` (or a parameter ``pytest.param(...,
marks=pytest.mark.fast)``). A fast test needs no server and no database file, and takes well
under a second. ``make test`` runs every test.
"""

from __future__ import annotations

import gc
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api_harness import Receiver, serve
from tests.figures import FIGURES
from tests.pg import PostgresServer
from tests.stores import new_store, postgres_template, sqlite_copy, sqlite_template

TESTS = Path(__file__).resolve().parent
FAST_FOLDERS = [TESTS / "unit", TESTS / "decision_path"]


def pytest_configure(config: pytest.Config) -> None:
    """Test files in memory when the machine has /dev/shm (and TMPDIR is not set): the
    service's SQLite store syncs every commit, which on a disk other work shares made the
    API's tests wait on the disk for a third of their time. A test kills processes, never the
    machine, so what the kernel holds is all a test needs (PostgreSQL runs without fsync for
    the same reason: tests/pg.py)."""
    shm = Path("/dev/shm")
    if "TMPDIR" not in os.environ and shm.is_dir() and os.access(shm, os.W_OK):
        os.environ["TMPDIR"] = str(shm)  # for the servers and replays tests start, too
        tempfile.tempdir = None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The ``fast`` tier (see the module's docstring). And the files with a ``slow`` test
    first, each file's tests in their order: pytest-xdist hands out files in this order, so the
    last files to start are short ones and both workers end together (a long file started last
    kept one worker busy alone)."""
    for item in items:
        in_fast_folder = any(item.path.is_relative_to(folder) for folder in FAST_FOLDERS)
        if in_fast_folder and item.get_closest_marker("contract") is None:
            item.add_marker(pytest.mark.fast)
    slow_files = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow_files)


_MODULE: list[Path] = []  # the test file running now


def pytest_runtest_setup(item: pytest.Item) -> None:
    """At each test file's first test: a full garbage collection, then what is left alive
    (the test modules, the session's fixtures, the libraries' caches) frozen out of the
    collector's sight. poagate runs a full collection after each reference load and replay
    (``collector_paused``): cheap in a server's heap, but 0.2 s and more in a test process's,
    which grows as the run goes on. A property test of fifteen replays took 12 s alone and 30 s
    late in a run, 0.6 s frozen; the suite's CPU fell by a third. Objects are still freed when
    nothing refers to them; only a cycle made later among frozen ones stays until the end."""
    if _MODULE[-1:] != [item.path]:
        _MODULE[:] = [item.path]
        gc.collect()
        gc.freeze()


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


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store with the schema and nothing else (tests/stores.py)."""
    return sqlite_template(tmp_path_factory.mktemp("template") / "migrated.db", seeded=False)


@pytest.fixture(scope="session")
def seeded_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store with the API harness's fleet and GUID list (tests/stores.py)."""
    return sqlite_template(tmp_path_factory.mktemp("template") / "seeded.db", seeded=True)


@pytest.fixture(scope="session")
def seeded_postgres_template(postgres: PostgresServer) -> str:
    """The name of a PostgreSQL database with the API harness's fleet (tests/stores.py)."""
    return postgres_template(postgres)


@pytest.fixture
def empty_sqlite(migrated_sqlite_template: Path, tmp_path: Path) -> str:
    """A new SQLite store with the schema and nothing else."""
    return sqlite_copy(migrated_sqlite_template, tmp_path / "poagate.db")


@pytest.fixture
def seeded_sqlite(seeded_sqlite_template: Path, tmp_path: Path) -> str:
    """A new SQLite store holding the API harness's fleet and GUID list."""
    return sqlite_copy(seeded_sqlite_template, tmp_path / "poagate.db")


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty store (the schema only) on each backend in turn."""
    yield from new_store(request, request.param, seeded=False)


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
