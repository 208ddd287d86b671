"""How long write transactions wait for the writers' lock and hold it (spec §16), by what
they do: every writer of every server process takes the one lock (``sqlbase``), so when
decisions slow down under load, these say whether the lock is why and who holds it.

``work`` names what a transaction does; callers name theirs with ``writer_work`` (a context
variable, so each thread and task names its own): ``decisions`` (a group of messages),
``verification`` and ``release`` (the guards' passes), ``deliveries`` (the delivery worker's
claims and results), ``maintenance``; anything unnamed is ``other`` (admin changes, CLI
commands).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from prometheus_client import Histogram

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

WAIT_SECONDS = Histogram(
    "poagate_writer_lock_wait_seconds",
    "How long a write transaction waited to begin and take the writers' lock (PostgreSQL: "
    "the advisory lock; SQLite: BEGIN IMMEDIATE), by what it does.",
    ["work"],
    buckets=_BUCKETS,
)
HELD_SECONDS = Histogram(
    "poagate_writer_lock_held_seconds",
    "How long a write transaction held the writers' lock, from taking it to its commit or "
    "rollback, by what it does. rate(..._sum) near 1 means the lock is never free.",
    ["work"],
    buckets=_BUCKETS,
)

_WORK: ContextVar[str] = ContextVar("poagate_writer_work", default="other")


@contextmanager
def writer_work(work: str) -> Iterator[None]:
    """Write transactions begun inside this block are counted as ``work``."""
    token = _WORK.set(work)
    try:
        yield
    finally:
        _WORK.reset(token)


def observe(waited: float, held: float) -> None:
    """One write transaction's wait for the lock and its hold, under the work named now."""
    work = _WORK.get()
    WAIT_SECONDS.labels(work).observe(waited)
    HELD_SECONDS.labels(work).observe(held)
