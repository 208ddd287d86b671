"""Hostile webhook receivers on 127.0.0.1, each a real socket server in threads of its own:

* ``trickle``: reads the request, then sends an answer one byte every 0.1 s — a status line and
  header lines that never end — so no single read ever waits long and the exchange never ends;
* ``endless``: answers 200 and then a body without end, as fast as the socket takes it.

Each counts its connections (and when each came) and the bytes it managed to send, and stops
when closed.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

BLOCK = b"x" * 65536


class HostileReceiver:
    def __init__(self, mode: str) -> None:
        assert mode in ("trickle", "endless")
        self.mode = mode
        self.connections = 0
        self.arrivals: list[float] = []  # when each connection was accepted (time.monotonic)
        self.sent = 0
        self.closed = threading.Event()
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                connection, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self.arrivals.append(time.monotonic())
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _count(self, n: int) -> None:
        with self._lock:
            self.sent += n

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(5)
            try:
                connection.recv(65536)  # the request (small: one AD1)
                if self.mode == "trickle":
                    answer = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: a\r\n" * 100_000
                    for byte in answer:
                        if self.closed.is_set():
                            return
                        connection.sendall(bytes([byte]))
                        self._count(1)
                        time.sleep(0.1)
                else:
                    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
                    while not self.closed.is_set():
                        connection.sendall(BLOCK)
                        self._count(len(BLOCK))
            except OSError:
                return  # the sender hung up: what the test wants

    def most_within(self, seconds: float) -> int:
        """The most connections that arrived within ``seconds`` of each other."""
        with self._lock:
            times = sorted(self.arrivals)
        return max(
            (sum(1 for t in times[i:] if t - first < seconds) for i, first in enumerate(times)),
            default=0,
        )

    def close(self) -> None:
        self.closed.set()
        self._server.close()

    def __enter__(self) -> HostileReceiver:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
