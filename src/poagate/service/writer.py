"""Committing batches in a second process, so that SQLite's work overlaps the gate's.

The gate decides in the main process and hands each encoded batch (``Rows``: plain tuples) to a
writer process that owns its own SQLite connection and commits it in one transaction, in order.
At most ``in_flight`` batches wait, so a slow disk slows the gate down rather than filling
memory. On a machine of two cores this takes SQLite's share of a large replay off the gate.

Crash safety is unchanged. Each batch is still one transaction, and a batch also records how far
each input file has been applied, so the store is always at the end of some batch. The writer
asks the kernel to kill it when its parent dies (``PR_SET_PDEATHSIG``): a ``kill -9`` of the
replay takes the writer with it, and SQLite discards the transaction it had open. The writer
also holds ``<database>.writer.lock`` while it lives, and opening a store for writing waits for
that lock, so a new replay can never start while an old writer is still committing.

The writer is ``python -m poagate.service.writer DATABASE PARENT_PID IN_FLIGHT``. Frames on its
standard input are an 8-byte big-endian length and a pickled ``Rows`` (length 0 ends it); it
answers each with ``k``, or ``e`` and a framed error message, on its standard output.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from typing import IO

from poagate.store import StoreError
from poagate.store.batch import Rows

_PR_SET_PDEATHSIG = 1
_LENGTH = struct.Struct(">Q")
_READY, _OK, _ERROR = b"r", b"k", b"e"


def _die_with_parent(parent_pid: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


def _send_error(out: IO[bytes], message: str) -> None:
    data = message.encode("utf-8", "replace")
    out.write(_ERROR + _LENGTH.pack(len(data)) + data)
    out.flush()


_END = b""


def _receive(source: IO[bytes], batches: queue.Queue[bytes | None]) -> None:
    """Read frames as fast as they come, so the parent never waits on a full pipe while a
    batch is being committed (a pipe holds 64 KiB; a batch is megabytes)."""
    while True:
        header = _read_exactly(source, _LENGTH.size)
        if header is None:
            batches.put(None)  # the parent has gone
            return
        (length,) = _LENGTH.unpack(header)
        data = _read_exactly(source, length) if length else _END
        batches.put(data)
        if not data:
            return


def serve(database: str, parent_pid: int, in_flight: int) -> int:
    """The writer process's main loop."""
    _die_with_parent(parent_pid)
    from poagate.store.sqlite import SqliteStore, writer_lock

    source, out = sys.stdin.buffer, sys.stdout.buffer
    try:
        lock = writer_lock(Path(database))
        store = SqliteStore(database, lock=False)
    except Exception as exc:  # reported to the parent, which stops with this message
        _send_error(out, f"the writer process could not open {database}: {exc}")
        return 1
    batches: queue.Queue[bytes | None] = queue.Queue(maxsize=in_flight + 1)
    threading.Thread(target=_receive, args=(source, batches), daemon=True).start()
    out.write(_READY)
    out.flush()
    try:
        while True:
            data = batches.get()
            if data is None:
                return 1  # the parent has gone; nothing half-written stays
            if not data:
                return 0
            rows: Rows = pickle.loads(data)  # noqa: S301 - from our own parent process
            try:
                store.decisions.write(rows)
            except Exception as exc:
                _send_error(out, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
                return 1
            out.write(_OK)
            out.flush()
    finally:
        store.close()
        lock.release()


class WriterProcess:
    """Commits ``Rows`` in a child process, in order (see the module docstring)."""

    def __init__(self, database: Path, in_flight: int = 2) -> None:
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "poagate.service.writer",
                str(database),
                str(os.getpid()),
                str(in_flight),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._to, self._from = self._process.stdin, self._process.stdout
        self._in_flight = in_flight
        self._pending = 0
        self._expect(_READY)

    def _expect(self, wanted: bytes) -> None:
        answer = self._from.read(1)
        if answer == wanted:
            return
        if answer == _ERROR:
            header = _read_exactly(self._from, _LENGTH.size) or _LENGTH.pack(0)
            message = self._from.read(_LENGTH.unpack(header)[0]).decode("utf-8", "replace")
            raise StoreError(f"the writer process failed: {message}")
        self._process.wait(timeout=30)
        raise StoreError(
            f"the writer process stopped unexpectedly (exit code {self._process.returncode}); "
            "what it had not committed is redone by running the same replay again"
        )

    def submit(self, rows: Rows) -> None:
        """Queue a batch for commit; waits while ``in_flight`` batches are still uncommitted."""
        data = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self._to.write(_LENGTH.pack(len(data)))
            self._to.write(data)
            self._to.flush()
        except BrokenPipeError:
            self._expect(_OK)  # raises with the writer's own reason
        self._pending += 1
        while self._pending > self._in_flight:
            self._expect(_OK)
            self._pending -= 1

    def close(self) -> None:
        """Wait until every queued batch is committed, then stop the process."""
        while self._pending:
            self._expect(_OK)
            self._pending -= 1
        self._to.write(_LENGTH.pack(0))
        self._to.close()
        if self._process.wait(timeout=60) != 0:
            raise StoreError(f"the writer process ended with exit code {self._process.returncode}")
        self._from.close()

    def abandon(self) -> None:
        """Stop without waiting (after an error): uncommitted batches are discarded."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(timeout=30)
        for stream in (self._to, self._from):
            with contextlib.suppress(OSError):
                stream.close()


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
