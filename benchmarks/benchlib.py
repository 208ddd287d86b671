"""What the benchmarks share: peak resident memory of a process tree, the machine's speed of the
moment and the CPU time its hypervisor took, and http.py as a module.

``benchmarks/`` is on ``sys.path`` when a benchmark runs as a script, so ``import benchlib``."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from pathlib import Path
from types import ModuleType, TracebackType

import psutil


class PeakRss:
    """Samples a process tree's resident memory every ``interval`` seconds while in use::

    with PeakRss(pid) as peak:
        ...
    peak.main_mb, peak.tree_mb
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self._process = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.main = 0
        self.tree = 0

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                tree = [self._process, *self._process.children(recursive=True)]
                rss = [p.memory_info().rss for p in tree]
            except psutil.Error:
                rss = []
            if rss:
                self.main = max(self.main, rss[0])
                self.tree = max(self.tree, sum(rss))
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def main_mb(self) -> float:
        return self.main / 2**20

    @property
    def tree_mb(self) -> float:
        return self.tree / 2**20


def cpu_ms(loops: int = 3) -> float:
    """The machine's speed of the moment: milliseconds one core takes to add up a million
    integers in Python, the best of ``loops``. The VMs these benchmarks run on change speed from
    one session to the next and within one (idle, minutes apart: 33 and 47 ms on 2026-12-05's
    second machine), and every figure of a benchmark moves with it; benchmarks print this beside
    their figures so that two runs can be compared with the machine each had."""
    best = float("inf")
    for _ in range(loops):
        began = time.perf_counter()
        sum(range(1_000_000))
        best = min(best, time.perf_counter() - began)
    return best * 1000


class Steal:
    """The share of the machine's CPU time its hypervisor gave to other guests (``steal`` of
    ``/proc/stat``, read through ``psutil.cpu_times``, percent) since the last ``lap``: on
    2026-12-06 this VM's steal was 1-6% idle and 0-30% a minute under a soak's load, and a soak
    minute's p99 followed it (docs/performance.md). Benchmarks print it beside their figures,
    as they print ``cpu_ms``; it does not tell all of a slow day: that day's HTTP capacity was
    half the morning's with 0-9% stolen."""

    def __init__(self) -> None:
        self._mark = self._read()

    @staticmethod
    def _read() -> tuple[float, float]:
        """(stolen, all) CPU seconds of every CPU since boot (guest time is in user already)."""
        times = psutil.cpu_times()  # on Linux, as every benchmark here runs
        return times.steal, sum(times[:8])

    def lap(self) -> float:
        """Percent of the CPU time since the last lap (or the start) that was stolen."""
        now = self._read()
        steal, total = now[0] - self._mark[0], now[1] - self._mark[1]
        self._mark = now
        return round(100 * steal / total, 1) if total else 0.0


def http_benchmark() -> ModuleType:
    """benchmarks/http.py (its Server, load_store, activate), loaded under another name:
    imported as ``http`` it would shadow the standard library's package."""
    spec = importlib.util.spec_from_file_location(
        "poagate_bench_http", Path(__file__).with_name("http.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # a dataclass there looks its module up by name
    spec.loader.exec_module(module)
    return module
