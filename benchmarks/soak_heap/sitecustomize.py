"""Heap figures of a ``poagate serve`` process, for benchmarks/soak.py --heap-stats: this folder
is put first on the servers' PYTHONPATH, so Python imports this module as each starts.

Every 10 s a thread appends to ``$SOAK_HEAP_DIR/heap-<pid>.jsonl``: the blocks Python's
allocator holds (``sys.getallocatedblocks``) and glibc's ``mallinfo2`` (bytes in use, bytes
free but kept, bytes in mmapped chunks). Each costs microseconds, so the figures do not change
what they measure. Memory that grows in use with Python's blocks is objects kept; memory that
grows free-but-kept is the allocator's fragmentation, not a leak.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import threading
import time


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
        with open(path, "a") as out:
            out.write(json.dumps(row) + "\n")
        time.sleep(10)


if os.environ.get("SOAK_HEAP_DIR") and "serve" in sys.argv:
    threading.Thread(target=_watch, args=(os.environ["SOAK_HEAP_DIR"],), daemon=True).start()
