"""Watch a PostgreSQL database under a benchmark's load for what stalls the writers.

Every poagate writer takes one advisory lock (``store.postgres``: ``WRITER_LOCK_KEY``), so when
decisions stand still for a second, either the backend holding that lock is slow (a statement,
a commit's flush, a lock of its own) or nobody holds it and the servers are. ``LockWatch``
looks every ``interval`` seconds, in a thread of its own on a connection of its own, at the
holder of the writers' lock (its transaction's age, state, wait event and statement) and at
how many backends wait for it, writes each look as a JSON line and keeps the looks whose
holder had held it for ``slow`` seconds or more. The longest time between two looks tells a
machine (or this process) that stood still from a writer that did. Not part of the tests.
"""

from __future__ import annotations

import json
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
            while not self._stop.wait(self.interval):
                at = time.time()
                self.longest_gap, last = max(self.longest_gap, at - last), at
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
        }
