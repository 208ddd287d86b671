"""What request handlers share within one server process: its options, the ingestor (the
writer connection), the read connections and the token cache."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import cast

from fastapi import Request

from poagate.api.options import ServerOptions
from poagate.api.tokens import TokenCache
from poagate.delivery.worker import WorkerStatus
from poagate.service.ingest import Ingestor
from poagate.store import StoreUnavailableError
from poagate.store.database import open_store
from poagate.store.store import Store


class ReadPool:
    """Read connections for request handlers, opened as needed up to ``size``.

    A borrowed connection comes back on every path: given back after the block, whatever it
    raised, and closed (making room for a new one) when the store failed under it. ``idle`` and
    ``opened`` let a test check that the pool is whole after any number of failed requests.

    Work that any client can cause before it is known — looking up the token it sent — gets
    at most half of the connections (``borrow_unproven``; at least one): a flood of made-up
    tokens then waits for its share while the callers already known are served.
    """

    def __init__(self, database: str, size: int) -> None:
        self.database = database
        self.size = size
        self._idle: queue.SimpleQueue[Store] = queue.SimpleQueue()
        self._opened = 0
        self._lock = threading.Lock()
        self.unproven_share = max(1, size // 2)
        self._unproven = threading.BoundedSemaphore(self.unproven_share)

    @contextlib.contextmanager
    def borrow_unproven(self, wait_seconds: float = 10.0) -> Iterator[Store]:
        """A connection for work a caller not yet known causes (see the class docstring);
        ``StoreUnavailableError`` when its share stays busy for ``wait_seconds``."""
        if not self._unproven.acquire(timeout=wait_seconds):
            raise StoreUnavailableError("every connection for token look-ups is busy")
        try:
            with self.borrow(wait_seconds) as store:
                yield store
        finally:
            self._unproven.release()

    @contextlib.contextmanager
    def borrow(self, wait_seconds: float = 10.0) -> Iterator[Store]:
        try:
            store = self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                room = self._opened < self.size
                if room:
                    self._opened += 1
            if room:
                try:
                    store = open_store(self.database, "read")
                except Exception:
                    with self._lock:
                        self._opened -= 1
                    raise
            else:
                try:
                    store = self._idle.get(timeout=wait_seconds)
                except queue.Empty:
                    raise StoreUnavailableError("every read connection is busy") from None
        try:
            yield store
        except StoreUnavailableError:
            self._discard(store)  # a broken connection is not given back
            raise
        except BaseException:
            # The request failed, not the connection (a bad cursor, a client gone): it goes
            # back. Connections run in autocommit, and ``transaction()`` rolls back what it
            # opened, so no transaction is left open on it.
            self._idle.put(store)
            raise
        self._idle.put(store)

    def _discard(self, store: Store) -> None:
        with contextlib.suppress(Exception):
            store.close()
        with self._lock:
            self._opened -= 1

    @property
    def opened(self) -> int:
        """Connections open now, idle or borrowed."""
        return self._opened

    @property
    def idle(self) -> int:
        return self._idle.qsize()

    def close(self) -> None:
        """Close the idle connections (at shutdown); the pool may be used again after it."""
        while True:
            try:
                store = self._idle.get_nowait()
            except queue.Empty:
                return
            self._discard(store)


@dataclass(slots=True)
class AppContext:
    """One server process's shared parts, reached through ``request.app.state.context``."""

    options: ServerOptions
    ingestor: Ingestor[Store]
    reads: ReadPool
    tokens: TokenCache
    # How many background passes this process has completed (tests wait on these).
    deliveries: WorkerStatus = field(default_factory=WorkerStatus)
    release_passes: int = 0
    verification_passes: int = 0
    push_passes: int = 0  # the push of verification requests to the DSP (its own loop)


def context_of(request: Request) -> AppContext:
    return cast(AppContext, request.app.state.context)
