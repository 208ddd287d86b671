"""One ``poagate serve --workers 2``: the workers share its connections by their counts
(poagate.api.accepting), and a stopped worker holds no connection back."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Iterator

import psutil
import pytest

from tests.helpers import wait_until_workers_accept
from tests.servers import Server

pytestmark = pytest.mark.slow  # a server of two worker processes

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: poagate\r\n\r\n"


@pytest.fixture
def server(empty_sqlite: str) -> Iterator[Server]:
    started = Server(empty_sqlite, args=("--workers", "2"))
    try:
        if not wait_until_workers_accept(started.process, 2):
            pytest.fail("the second worker did not start accepting")
        yield started
    finally:
        started.stop()


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
        for _ in range(100):  # until both workers have seen their connections close
            if not any(held(server).values()):
                break
            psutil.wait_procs([], timeout=0.02)
    assert shapes == [[2, 2]] * 10


def test_a_stopped_worker_does_not_hold_connections_back(server: Server) -> None:
    first = open_at_once(server.port, 2)
    counts = held(server)
    assert sorted(n for n in counts.values() if n) == [1, 1]
    stopped, running = workers(server)
    os.kill(stopped, signal.SIGSTOP)
    try:
        # The running worker holds as many as the stopped one, then more: it waits a moment
        # for the stopped one to take the connection, then takes it itself.
        later = [open_at_once(server.port, 1)[0] for _ in range(3)]
        assert held(server)[running] == 4
        assert held(server)[stopped] == 1
    finally:
        os.kill(stopped, signal.SIGCONT)
    for conn in first + later:
        conn.close()
