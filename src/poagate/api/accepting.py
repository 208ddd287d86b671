"""How the workers of one ``poagate serve --workers N`` share its connections.

uvicorn's workers listen on one socket, and the worker that wakes first accepts every connection
waiting: a client that opens a few connections at once (a DSP adapter's pool, the capacity
benchmark's four) could land them all on one worker while the other idled — measured as 4+0 in
two runs of three, half the batches' rate.

Here each worker accepts one connection at a time, and leaves the next to a worker holding fewer
(the rule of nginx's ``ngx_accept_disabled``). The workers' counts of open connections are on a
:class:`Board`, a small file in shared memory with a slot a worker, made by ``poagate serve``
before it starts them. A worker holding more than another live worker steps back for
:data:`STEP` seconds, so that the other takes the connection; when the connection is still
waiting after :data:`PATIENCE` seconds (the other worker busy, stopped or hung) it accepts it
anyway, and what comes for :data:`OVERRULE` seconds after. The board only steers: nothing
waits on it longer than that, a slot left by a dead worker is taken by its successor, and a
worker that cannot open the board serves with uvloop's own server.

One worker (``--workers 1``) serves as uvicorn does; the event loop is uvloop's either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import mmap
import os
import select
import socket
import struct
from collections.abc import Callable
from typing import Any

import uvloop

BOARD_ENV = "POAGATE_ACCEPT_BOARD"
STEP = 0.005  # how long a worker holding more steps back before it looks again
PATIENCE = 0.1  # how long a connection may wait on another worker before this one takes it
# Once a connection waited PATIENCE in vain (the other worker stopped, hung or busy), this
# worker takes what comes without stepping back for this long: one slow worker must not hold
# every connection of the others back 100 ms.
OVERRULE = 1.0
# Errors of accept(2) that say this process is out of something: stop accepting a second, as
# asyncio does. Any other is one connection's (the client went away, a firewall said no).
_EXHAUSTED = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_SLOT = struct.Struct("=qq")  # a worker's pid, the connections it holds open

log = logging.getLogger("poagate.accepting")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class Board:
    """The workers' counts of open connections: a slot ``(pid, count)`` a worker in a shared
    file. A worker writes only its own slot; the others read it (a stale count steers one
    connection wrongly, nothing more)."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "r+b")  # noqa: SIM115 - kept open for the mapping's life
        self._map = mmap.mmap(self._file.fileno(), 0)
        self.slots = len(self._map) // _SLOT.size

    @classmethod
    def create(cls, path: str, slots: int) -> None:
        """A board of ``slots`` empty slots (twice the workers: a restarted worker may start
        before its predecessor's slot is seen to be free)."""
        with open(path, "wb") as out:
            out.write(bytes(_SLOT.size * slots))

    def read(self, slot: int) -> tuple[int, int]:
        pid, count = _SLOT.unpack_from(self._map, slot * _SLOT.size)
        return int(pid), int(count)

    def _write(self, slot: int, pid: int, count: int) -> None:
        _SLOT.pack_into(self._map, slot * _SLOT.size, pid, count)

    def claim(self, pid: int) -> int | None:
        """A slot now ``pid``'s with no connections: its own, else a dead worker's (so that
        none lingers, its pid free to be reused by another process), else a free one; None
        when the board is full (the worker then accepts as connections come)."""
        fcntl.flock(self._file, fcntl.LOCK_EX)
        try:

            def rank(holder: int) -> int | None:  # lower first; None: a live worker's
                if holder == pid:
                    return 0
                if holder == 0:
                    return 2
                return None if _alive(holder) else 1

            ranked = [(rank(self.read(slot)[0]), slot) for slot in range(self.slots)]
            free = [(order, slot) for order, slot in ranked if order is not None]
            if not free:
                return None
            _, slot = min(free)
            self._write(slot, pid, 0)
            return slot
        finally:
            fcntl.flock(self._file, fcntl.LOCK_UN)

    def release(self, slot: int) -> None:
        self._write(slot, 0, 0)

    def add(self, slot: int, change: int) -> None:
        pid, count = self.read(slot)
        self._write(slot, pid, max(0, count + change))

    def fewer_elsewhere(self, slot: int) -> bool:
        """Whether another live worker holds fewer connections than ``slot``'s."""
        _, mine = self.read(slot)
        if mine == 0:
            return False
        for other in range(self.slots):
            if other == slot:
                continue
            pid, count = self.read(other)
            if pid != 0 and count < mine and _alive(pid):
                return True
        return False

    def close(self) -> None:
        self._map.close()
        self._file.close()


class _Counted(asyncio.Protocol):
    """uvicorn's protocol for one connection, and a call when the connection ends."""

    __slots__ = ("_ended", "_inner")

    def __init__(self, inner: asyncio.Protocol, ended: Callable[[], None]) -> None:
        self._inner = inner
        self._ended = ended

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            self._inner.connection_lost(exc)
        finally:
            self._ended()


class BalancedListener(asyncio.AbstractServer):
    """Accepts on a socket the workers share, one connection at a time, stepping back while
    another worker holds fewer (the module's docstring). What uvicorn asks of a server:
    ``close`` and ``wait_closed``."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
        board: Board,
        slot: int,
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._factory = protocol_factory
        self._board = board
        self._slot = slot
        self._serving = False
        self._waiting_since: float | None = None
        self._overrule_until = 0.0
        self._resume_handle: asyncio.TimerHandle | None = None
        self._closed = asyncio.Event()
        self._connecting: set[asyncio.Task[None]] = set()  # referenced until they are done

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return (self._sock,)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        if not self._serving and not self._closed.is_set():
            self._sock.setblocking(False)
            self._serving = True
            self._loop.add_reader(self._sock.fileno(), self._ready)

    async def serve_forever(self) -> None:
        await self.start_serving()
        await self._closed.wait()

    def close(self) -> None:
        if self._closed.is_set():
            return
        if self._serving:
            self._loop.remove_reader(self._sock.fileno())
        if self._resume_handle is not None:
            self._resume_handle.cancel()
        self._serving = False
        self._board.release(self._slot)
        self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def _ready(self) -> None:
        """The socket has a connection waiting: take it, or step back for a worker with fewer."""
        now = self._loop.time()
        if now >= self._overrule_until and self._board.fewer_elsewhere(self._slot):
            if self._waiting_since is None:
                self._waiting_since = now
            if now - self._waiting_since < PATIENCE:
                self._loop.remove_reader(self._sock.fileno())
                self._resume_handle = self._loop.call_later(STEP, self._resume)
                return
            self._overrule_until = now + OVERRULE
        self._waiting_since = None
        try:
            conn, _ = self._sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # another worker took it, or the client gave up
        except OSError as exc:
            if exc.errno not in _EXHAUSTED:
                log.warning("a connection could not be accepted: %s", exc)
                return
            log.error("accepting connections paused for a second: %s", exc)
            self._loop.remove_reader(self._sock.fileno())
            self._resume_handle = self._loop.call_later(1.0, self._resume)
            return
        self._board.add(self._slot, 1)
        task = self._loop.create_task(self._connect(conn))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    def _resume(self) -> None:
        self._resume_handle = None
        if self._closed.is_set():
            return
        # Taken by another worker meanwhile: this wait is over, the next starts afresh.
        if not _readable(self._sock):
            self._waiting_since = None
        self._loop.add_reader(self._sock.fileno(), self._ready)

    def _ended(self) -> None:
        # After close the slot is released, and may be a successor's: it is not ours to move.
        if not self._closed.is_set():
            self._board.add(self._slot, -1)

    async def _connect(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        with contextlib.suppress(OSError):  # a Unix socket has no Nagle to turn off
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await self._loop.connect_accepted_socket(
                lambda: _Counted(self._factory(), self._ended), conn
            )
        except Exception as exc:  # the client went away before its transport was made
            log.warning("a connection closed before it was served: %s", exc)
            conn.close()
            self._ended()


def _readable(sock: socket.socket) -> bool:
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))


class BalancedLoop(uvloop.Loop):
    """uvloop's event loop, whose server on a shared socket is a :class:`BalancedListener`
    when ``poagate serve`` made a board for its workers. uvicorn's ``loop=`` names it
    (``poagate.api.accepting:BalancedLoop``) and calls it for each worker's loop."""

    async def create_server(  # type: ignore[override]
        self, protocol_factory: Callable[[], asyncio.Protocol], *args: Any, **kwargs: Any
    ) -> asyncio.AbstractServer:
        sock = kwargs.get("sock")
        path = os.environ.get(BOARD_ENV)
        if sock is not None and path and kwargs.get("ssl") is None:
            try:
                board = Board(path)
            except (OSError, ValueError) as exc:  # gone (a /tmp cleaner), empty, unreadable
                log.warning("no accept board (%s): this worker accepts as connections come", exc)
            else:
                slot = board.claim(os.getpid())
                if slot is not None:
                    sock.listen(kwargs.get("backlog", 100))  # uvicorn's socket: bound only
                    listener = BalancedListener(self, sock, protocol_factory, board, slot)
                    await listener.start_serving()
                    return listener
                log.warning("the accept board is full: this worker accepts as connections come")
                board.close()
        server: asyncio.AbstractServer = await super().create_server(
            protocol_factory, *args, **kwargs
        )
        return server
