"""How a maintenance pass shares the writer with decisions (spec §15: a pass neither blocks
intake nor slows a decision's p99 by more than half).

Writers are serialised (SQLite has one writer; PostgreSQL's take one advisory lock), so a
decision that arrives while a purge transaction holds the writer waits for it to end. What that
adds to a decision's p99 is about the longest a purge transaction lasts, and how often a
decision meets one is the share of the time the pass holds the writer. So a pass works in steps
sized by time, not by rows: each step (one write transaction, its commit included) aims at
``BUDGET_SECONDS``, the next step's size following from how long the last one took, and after
each step the pass rests ``REST`` times as long as the step held the writer, leaving it free
at least four fifths of the time. The rows a step covers grow when steps are quick and
shrink when the disk or the other writers slow them (by half a step at most), between the
bounds the caller gives; the least is large enough that a slow disk, whose sync alone takes
longer than the budget, does not shrink steps to a handful of rows each paying for a sync.

A pass also yields to decisions. A step of a millisecond still delays each decision that
meets it, and while decisions come one after another a fifth of them would (the writer is the
pass's a fifth of the time): a decision's p99 became the quiet p99 plus a step, more than half
again where the quiet p99 is a millisecond or two. So after each rest the pass asks the store
whether another connection wrote meanwhile (``writes_seen``: SQLite's ``data_version``,
PostgreSQL's next transaction id), and if one did, it rests ``YIELD_SECONDS`` more (or
``YIELD`` times the step, if longer), and goes on resting that long after each step for as long
as other writers write during those longer rests: while decisions keep coming, the pass holds
the writer about one five-hundredth of the time, so well under one decision in a hundred meets
a step, and the pass takes longer; once a longer rest passes without another writer, it works
at its own pace again.

Measured (benchmarks/lifecycle.py, docs/performance.md "Data lifecycle"): 1,000-row batches
with a pause as long as the batch made SQLite's p99 +97–143% during a purge; steps of a few
milliseconds kept it within half in most measurements, not all; yielding, in every one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

BUDGET_SECONDS = 0.001  # how long one step of a pass may hold the writer
REST = 4.0  # the pass then rests this many times as long
YIELD_SECONDS = 0.5  # and this much more when another writer wrote during the rest
YIELD = 200.0  # or this many times the step, when that is longer


@dataclass
class Held:
    """How long the steps of a pass held the writer between them: the pass's own work, without
    its rests (a pass's wall time is about ``1 + REST`` times this, and grows with anything that
    slows a step, which the rests then multiply)."""

    seconds: float = 0.0
    yields: int = 0  # rests made longer because another writer wrote during one
    yielding: bool = False  # another writer wrote during the last longer rest (for every kind)
    # Called after every step's rest, outside any transaction: what the pass does between its
    # steps (the maintenance pass renews its lease: a pass that yields to decisions all day
    # long can last longer than the lease).
    between: Callable[[], None] | None = None


class Pace:
    """The size of a pass's next step (rows, keys or pages), from how long the last took; each
    step's time, and each rest made longer, is counted in ``held`` when one is given (a pass
    shares one among its kinds, and with it whether it is yielding). ``writes_seen``: a number
    that changes when another connection writes to the store (none: the pass does not yield)."""

    def __init__(
        self,
        first: int,
        least: int,
        most: int,
        held: Held | None = None,
        writes_seen: Callable[[], int] | None = None,
    ) -> None:
        self.size = first
        self.least = least
        self.most = most
        self.writes_seen = writes_seen
        # whether the last longer rest saw another writer: kept in ``held`` when there is one,
        # so that a pass's next kind goes on yielding where the last one left off
        self.held = held if held is not None else Held()

    @contextmanager
    def step(self) -> Iterator[None]:
        """Time one step (wrap its whole write transaction), size the next from it, and then
        leave the writer free ``REST`` times as long as the step held it, and longer when
        another writer used it meanwhile (see the module docstring)."""
        began = time.monotonic()
        yield
        self._rest(time.monotonic() - began)
        if self.held.between is not None:
            self.held.between()

    def _rest(self, seconds: float) -> None:
        """After a step that held the writer ``seconds``: ``REST`` times as long, and longer
        while other writers write (see the module docstring)."""
        seen = None if self.writes_seen is None else self.writes_seen()
        time.sleep(self.took(seconds))
        if self.writes_seen is None:
            return
        now_seen = self.writes_seen()
        if self.held.yielding or now_seen != seen:
            self.held.yields += 1
            time.sleep(max(YIELD_SECONDS, YIELD * seconds))
            # Writes during the longer rest too: decisions are still coming, the next step
            # yields whatever its short rest sees (a rest of a few milliseconds misses most
            # of tens a second).
            self.held.yielding = self.writes_seen() != now_seen

    def took(self, seconds: float) -> float:
        """Size the next step from the ``seconds`` the last one took; how long to rest."""
        self.held.seconds += seconds
        # At most twice or half the last size: one step says little (a checkpoint, another
        # process's burst). The least size keeps a step's own cost (its commit's sync, which no
        # size avoids) from being paid for a handful of rows when the disk is slow.
        ratio = max(0.5, min(2.0, BUDGET_SECONDS / max(seconds, 1e-6)))
        self.size = max(self.least, min(self.most, int(self.size * ratio)))
        return seconds * REST
