"""Heap figures of a ``poagate serve`` process, for benchmarks/soak.py --heap-stats: this folder
is put first on the servers' PYTHONPATH, so Python imports this module as each starts.

Every 10 s a thread appends to ``$SOAK_HEAP_DIR/heap-<pid>.jsonl``: the blocks Python's
allocator holds (``sys.getallocatedblocks``) and glibc's ``mallinfo2`` (bytes in use, bytes
free but kept, bytes in mmapped chunks). Each costs microseconds, so the figures do not change
what they measure. Memory that grows in use with Python's blocks is objects kept; memory that
grows free-but-kept is the allocator's fragmentation, not a leak.

With ``SOAK_OBJECT_COUNTS`` set, once a minute a row also carries the 40 commonest kinds of
object the garbage collector tracks, by count (``gc.get_objects``: about 0.3 s a minute).
With ``SOAK_TRACEMALLOC_MINUTES`` (say ``4,12``), allocations are traced (``tracemalloc``, 12
frames, from 90 s after the start; it slows the process) and a snapshot is dumped at each of
those minutes after the start to ``snapshot-<pid>-<minute>.tracemalloc``: compare two with
``snapshot.compare_to(..., "traceback")`` to see which code holds the objects that grew.

And every collection of the oldest generation (or any taking 10 ms or more) is appended to
``gc-<pid>.jsonl`` with how long it paused the process.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import sys
import threading
import time
from collections import Counter


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _watch(directory: str) -> None:
    snapshots = sorted(
        float(m) for m in os.environ.get("SOAK_TRACEMALLOC_MINUTES", "").split(",") if m.strip()
    )
    started = time.time()
    tracing = False
    counting = bool(os.environ.get("SOAK_OBJECT_COUNTS"))
    counted = 0.0
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    path = os.path.join(directory, f"heap-{os.getpid()}.jsonl")
    while True:
        info = libc.mallinfo2()
        row = {
            "time": round(time.time(), 1),
            "python_blocks": sys.getallocatedblocks(),
            "malloc_in_use_mb": round(info.uordblks / 2**20, 2),
            "malloc_free_kept_mb": round(info.fordblks / 2**20, 2),
            "malloc_mmapped_mb": round(info.hblkhd / 2**20, 2),
        }
        if counting and time.time() - counted >= 60:
            counted = time.time()
            kinds = Counter(type(o).__qualname__ for o in gc.get_objects())
            row["objects"] = dict(kinds.most_common(40))
        with open(path, "a") as out:
            out.write(json.dumps(row) + "\n")
        if snapshots and not tracing and time.time() - started >= 90:
            # from 90 s on, once the server has started: tracing its imports made it too slow
            # to be ready in time, and what grows is what is allocated after
            import tracemalloc

            tracemalloc.start(12)
            tracing = True
        while tracing and snapshots and time.time() - started >= snapshots[0] * 60:
            minute = snapshots.pop(0)
            name = f"snapshot-{os.getpid()}-{minute:g}.tracemalloc"
            tracemalloc.take_snapshot().dump(os.path.join(directory, name))
        time.sleep(10)


def _time_collections(directory: str) -> None:
    """Every collection of the garbage collector's oldest generation, and any other taking
    10 ms or more, with how long it took (a pause of the whole process), to
    ``gc-<pid>.jsonl``."""
    path = os.path.join(directory, f"gc-{os.getpid()}.jsonl")
    began = [0.0]

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
            return
        took = time.perf_counter() - began[0]
        if info["generation"] == 2 or took >= 0.01:
            row = {"time": round(time.time(), 3), "generation": info["generation"]}
            row |= {"ms": round(took * 1000, 1), "collected": info["collected"]}
            with open(path, "a") as out:
                out.write(json.dumps(row) + "\n")

    gc.callbacks.append(timed)


if os.environ.get("SOAK_HEAP_DIR") and "serve" in sys.argv:
    threading.Thread(target=_watch, args=(os.environ["SOAK_HEAP_DIR"],), daemon=True).start()
    _time_collections(os.environ["SOAK_HEAP_DIR"])
