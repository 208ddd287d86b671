"""Watch a PostgreSQL database under a benchmark's load for what stalls the writers.

Every poagate writer takes one advisory lock (``store.postgres``: ``WRITER_LOCK_KEY``), so when
decisions stand still for a second, either the backend holding that lock is slow (a statement,
a commit's flush, a lock of its own) or nobody holds it and the servers are. ``LockWatch``
looks every ``interval`` seconds, in a thread of its own on a connection of its own, at the
holder of the writers' lock (its transaction's age, state, wait event and statement) and at
how many backends wait for it, writes each look as a JSON line and keeps the looks whose
holder had held it for ``slow`` seconds or more. The longest time between two looks tells a
machine (or this process) that stood still from a writer that did.

Once a second it also reads what the disk did in that second, to tell a lock from the disk:
PostgreSQL's WAL flushes and the milliseconds spent in them (``pg_stat_wal``; the time needs
``track_wal_io_timing``) and the kernel's pressure-stall figures (``/proc/pressure``: the
milliseconds in which some or all runnable tasks waited for I/O, and some for a CPU). A
commit that stalls a quarter of a second on the disk's flush shows as a second whose flushes
took 250 ms or more, and as I/O pressure. PostgreSQL's backends report their WAL figures at
most once a second each (PostgreSQL 15), so a second's figure may hold some of the second
before: it tells the slow second from the fast within about one. Not part of the tests.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

# The holder of the writers' advisory lock and how many wait for it, in one look.
LOOK = """
SELECT a.pid, a.application_name,
       extract(epoch FROM now() - a.xact_start) AS xact_seconds,
       extract(epoch FROM now() - a.query_start) AS query_seconds,
       a.state, a.wait_event_type, a.wait_event, left(a.query, 200) AS query,
       (SELECT count(*) FROM pg_locks w
         WHERE w.locktype = 'advisory' AND NOT w.granted) AS waiting
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.granted
"""


WAL = "SELECT wal_records, wal_bytes, wal_sync, wal_write_time, wal_sync_time FROM pg_stat_wal"
PRESSURE = Path("/proc/pressure")


def pressure() -> dict[str, float]:
    """The kernel's running totals of stalled time, in milliseconds: ``io_some`` (some task
    waited for I/O), ``io_full`` (every runnable task did), ``cpu_some`` (some waited for a
    CPU). Empty where the kernel has no pressure-stall information."""
    totals: dict[str, float] = {}
    for resource in ("io", "cpu"):
        path = PRESSURE / resource
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            kind, total = line.split()[0], re.search(r"total=(\d+)", line)
            if total and kind in ("some", "full") and (resource, kind) != ("cpu", "full"):
                totals[f"{resource}_{kind}"] = int(total.group(1)) / 1000
    return totals


def wal_totals(conn: psycopg.Connection[Any]) -> dict[str, float]:
    """PostgreSQL's running totals of WAL: records, bytes, flushes (``wal_sync``) and the
    milliseconds spent writing and flushing it (``track_wal_io_timing``)."""
    row = conn.execute(WAL).fetchone()
    assert row is not None
    keys = ("records", "bytes", "syncs", "write_ms", "sync_ms")
    return {k: float(v) for k, v in zip(keys, row, strict=True)}


def wal_figures(database: str) -> dict[str, float]:
    """``wal_totals`` on a connection of its own."""
    with psycopg.connect(database, autocommit=True) as conn:
        return wal_totals(conn)


class LockWatch:
    """Looks at the writers' lock every ``interval`` seconds until stopped; ``slow`` looks are
    those whose holder's transaction was ``slow`` seconds old or more."""

    def __init__(self, url: str, out: Path, interval: float = 0.1, slow: float = 0.25) -> None:
        self.url, self.out, self.interval, self.slow = url, out, interval, slow
        self.looks = 0
        self.slow_looks: list[dict[str, Any]] = []
        self.most_waiting = 0
        # The longest time between two looks' starts: far over ``interval`` when this process,
        # the database or the whole machine stood still (a look waits for nothing else).
        self.longest_gap = 0.0
        # Each second's disk figures (``_disk``): WAL flushes and their milliseconds,
        # pressure-stall milliseconds.
        self.seconds: list[dict[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LockWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        with (
            psycopg.connect(self.url, autocommit=True, application_name="lockwatch") as conn,
            self.out.open("a") as out,
        ):
            last = time.time()
            disk = self._disk(conn, last, None)
            while not self._stop.wait(self.interval):
                at = time.time()
                self.longest_gap, last = max(self.longest_gap, at - last), at
                if at - disk["at"] >= 1:
                    second = self._disk(conn, at, disk)
                    disk = {"at": at, **second.pop("_totals")}
                    self.seconds.append(second)
                    out.write(json.dumps({"disk": second}) + "\n")
                rows = conn.execute(LOOK).fetchall()
                self.looks += 1
                holder = None
                if rows:
                    pid, app, xact, query_s, state, wtype, wevent, query, waiting = rows[0]
                    holder = {
                        "pid": pid,
                        "app": app,
                        "xact_s": round(float(xact or 0), 3),
                        "query_s": round(float(query_s or 0), 3),
                        "state": state,
                        "wait": f"{wtype}:{wevent}" if wtype else None,
                        "query": query,
                    }
                    self.most_waiting = max(self.most_waiting, int(waiting))
                look = {"at": round(at, 3), "holder": holder, "waiting": rows[0][-1] if rows else 0}
                out.write(json.dumps(look) + "\n")
                if holder is not None and holder["xact_s"] >= self.slow:
                    self.slow_looks.append(look)

    @staticmethod
    def _disk(conn: psycopg.Connection[Any], at: float, before: dict[str, Any] | None) -> Any:
        """The disk's running totals now; with ``before``, what changed since (per second)."""
        wal = wal_totals(conn)
        totals = {f"wal_{k}": wal[k] for k in ("syncs", "sync_ms", "write_ms")}
        totals.update(pressure())
        if before is None:
            return {"at": at, **totals}
        second: dict[str, Any] = {"at": round(at, 3), "seconds": round(at - before["at"], 3)}
        second.update({k: round(v - before[k], 1) for k, v in totals.items() if k in before})
        second["_totals"] = totals
        return second

    def disk_by_minute(self, began: float) -> list[dict[str, Any]]:
        """Every minute after ``began``: its WAL flushes, their milliseconds (all, and the most
        in one second), and its pressure-stall milliseconds (all, and the most in one second)."""
        minutes: dict[int, dict[str, Any]] = {}
        for second in self.seconds:
            minute = int((second["at"] - began) // 60) + 1
            if minute < 1:
                continue
            row = minutes.setdefault(minute, {"minute": minute})
            for key, value in second.items():
                if key in ("at", "seconds"):
                    continue
                row[key] = round(row.get(key, 0) + value, 1)
                if key != "wal_syncs":
                    row[f"{key}_worst_s"] = max(row.get(f"{key}_worst_s", 0), value)
        return [minutes[m] for m in sorted(minutes)]

    def stalled_seconds(self, ms: float = 100) -> dict[str, int]:
        """How many seconds had ``ms`` milliseconds or more of WAL flushing, of I/O
        pressure (all tasks stalled) and of CPU pressure."""
        keys = ("wal_sync_ms", "io_full", "cpu_some")
        return {k: sum(1 for s in self.seconds if s.get(k, 0) >= ms) for k in keys}

    def by_minute(self, began: float) -> list[dict[str, Any]]:
        """The slow looks by minute after ``began`` (a Unix time): how many, the longest hold,
        and what the holders waited on (``None``: on nothing, running)."""
        minutes: dict[int, dict[str, Any]] = {}
        for look in self.slow_looks:
            minute = int((look["at"] - began) // 60) + 1
            row = minutes.setdefault(minute, {"minute": minute, "looks": 0, "longest_s": 0.0})
            row["looks"] += 1
            row["longest_s"] = max(row["longest_s"], look["holder"]["xact_s"])
            wait = str(look["holder"]["wait"])
            row.setdefault("waits", {})[wait] = row.get("waits", {}).get(wait, 0) + 1
        return [minutes[m] for m in sorted(minutes)]

    def summary(self) -> dict[str, Any]:
        """How many looks, how many slow, the longest hold seen and what it was doing then."""
        longest = max(self.slow_looks, key=lambda look: look["holder"]["xact_s"], default=None)
        return {
            "looks": self.looks,
            "slow_looks": len(self.slow_looks),
            "most_waiting": self.most_waiting,
            "longest_gap_s": round(self.longest_gap, 3),
            "longest_hold": longest,
            "seconds_watched": len(self.seconds),
            "seconds_over_100ms": self.stalled_seconds(),
            "seconds_over_250ms": self.stalled_seconds(250),
        }
