"""One ``poagate serve --workers 2``: the workers share its connections by their counts
(poagate.api.accepting), and a stopped worker holds no connection back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from poagate.api.accepting import BOARD_ENV, OVERRULE, BalancedListener, BalancedLoop
from tests.helpers import accept_board, wait_until_workers_accept
from tests.servers import Server

pytestmark = pytest.mark.slow  # a server of two worker processes

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: poagate\r\n\r\n"


@pytest.fixture
def server(empty_sqlite: str) -> Iterator[Server]:
    started = Server(empty_sqlite, args=("--workers", "2"))
    try:
        if not wait_until_workers_accept(started.process, 2):
            pytest.fail("the second worker did not start accepting")
        settle(started)
        yield started
    finally:
        started.stop()


def settle(server: Server) -> None:
    """Until two connections fall one a worker. Just after it starts a worker may be busy for
    longer than the 100 ms another waits for it (its first passes), and the other then takes
    what comes for a second (accepting.OVERRULE): by design, but not what the tests look at."""
    for _ in range(20):
        conns = open_at_once(server.port, 2)
        shape = sorted(n for n in held(server).values() if n)
        for conn in conns:
            conn.close()
        if shape == [1, 1]:
            break
        time.sleep(OVERRULE + 0.1)
    for _ in range(200):
        if not any(board_counts(server)):
            return
        time.sleep(0.02)


def open_at_once(port: int, count: int) -> list[socket.socket]:
    """``count`` connections opened together, as a client's pool (or wrk) does, each then
    asked one request and answered: they have all been accepted when this returns."""
    conns = []
    for _ in range(count):
        conn = socket.socket()
        conn.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            conn.connect(("127.0.0.1", port))
        conns.append(conn)
    for conn in conns:
        conn.setblocking(True)
        conn.settimeout(20)
        conn.sendall(REQUEST)
    for conn in conns:
        assert conn.recv(4096).startswith(b"HTTP/1.1 200")
    return conns


def held(server: Server) -> dict[int, int]:
    """The connections each worker holds open on the server's port, by pid."""
    counts = {}
    for child in psutil.Process(server.process.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            counts[child.pid] = sum(
                1
                for c in child.net_connections("tcp")
                if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == server.port
            )
    return counts


def workers(server: Server) -> list[int]:
    """The worker processes' pids: the children that hold the listening socket."""
    pids = []
    for child in psutil.Process(server.process.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if any(
                c.status == psutil.CONN_LISTEN and c.laddr.port == server.port
                for c in child.net_connections("tcp")
            ):
                pids.append(child.pid)
    return pids


def test_connections_opened_at_once_are_shared_between_the_workers(server: Server) -> None:
    # Without the board, uvicorn's workers took 4 such connections as 2+2 in 4 rounds of 20
    # here (3+1 in 11, 4+0 in 5): whoever woke first took what was waiting.
    shapes = []
    for _ in range(10):
        conns = open_at_once(server.port, 4)
        shapes.append(sorted((n for n in held(server).values() if n), reverse=True))
        for conn in conns:
            conn.close()
        # Both workers count their connections down as they close: none is left counted.
        for _ in range(200):
            if not any(board_counts(server)):
                break
            time.sleep(0.02)
        assert board_counts(server) == [0, 0]
    assert shapes == [[2, 2]] * 10


def board_counts(server: Server) -> list[int]:
    """The counts on the server's accept board of the workers holding slots."""
    slots = accept_board(server.process)
    assert slots is not None, "no worker with an accept board"
    return [count for _, count in slots]


def test_a_worker_without_its_board_serves_as_uvicorn_does(tmp_path: Path) -> None:
    """The board only steers: a worker that cannot open it (gone, say, to a /tmp cleaner)
    serves all the same rather than failing to start, again and again."""
    gone = str(tmp_path / "no-board")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    loop = BalancedLoop()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(BOARD_ENV, gone)
            server = loop.run_until_complete(
                loop.create_server(asyncio.Protocol, sock=listener, backlog=8)
            )
        assert not isinstance(server, BalancedListener)
        assert server.is_serving()
        with socket.create_connection(listener.getsockname(), timeout=5):
            loop.run_until_complete(asyncio.sleep(0.05))
        server.close()
        loop.run_until_complete(server.wait_closed())
    finally:
        loop.close()


def test_a_stopped_worker_does_not_hold_connections_back(server: Server) -> None:
    first = open_at_once(server.port, 2)
    before = held(server)
    # Stop the worker holding fewer (or either): the other then holds as many or more, and
    # steps back for it, waits a moment in vain, and takes the connection itself.
    stopped, running = sorted(workers(server), key=lambda pid: before.get(pid, 0))
    os.kill(stopped, signal.SIGSTOP)
    try:
        later = [open_at_once(server.port, 1)[0] for _ in range(3)]
        after = held(server)
        assert after[running] == before.get(running, 0) + 3
        assert after[stopped] == before.get(stopped, 0)
    finally:
        os.kill(stopped, signal.SIGCONT)
    for conn in first + later:
        conn.close()
