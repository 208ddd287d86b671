"""How a maintenance pass shares the writer (spec §15: a pass does not slow a decision's p99 by
more than half): each step sized by how long the last took, and a rest after it."""

from __future__ import annotations

import itertools

import pytest

from poagate.store import pacing
from poagate.store.pacing import BUDGET_SECONDS, REST, YIELD, YIELD_SECONDS, Held, Pace


def test_a_step_over_its_budget_makes_the_next_one_smaller_in_proportion() -> None:
    pace = Pace(first=1_000, least=8, most=20_000)
    pace.took(1.5 * BUDGET_SECONDS)
    assert pace.size == 666


def test_one_slow_step_at_most_halves_the_next_one() -> None:
    pace = Pace(first=1_000, least=8, most=20_000)
    pace.took(100 * BUDGET_SECONDS)  # a checkpoint, another process's burst
    assert pace.size == 500


def test_a_quick_step_at_most_doubles_the_next_one() -> None:
    pace = Pace(first=1_000, least=8, most=20_000)
    pace.took(BUDGET_SECONDS / 100)
    assert pace.size == 2_000


def test_a_step_stays_within_its_bounds() -> None:
    slow = Pace(first=10, least=8, most=20_000)
    slow.took(1.0)  # a second: far over the budget
    assert slow.size == 8
    slow.took(1.0)
    assert slow.size == 8
    quick = Pace(first=15_000, least=8, most=20_000)
    quick.took(0.0)
    assert quick.size == 20_000


def test_the_pass_rests_longer_than_the_step_held_the_writer() -> None:
    pace = Pace(first=100, least=8, most=20_000)
    assert REST >= 3  # the writer is free at least three quarters of a pass
    assert pace.took(0.002) == 0.002 * REST


def test_the_time_steps_held_the_writer_adds_up_without_the_rests() -> None:
    held = Held()
    pace = Pace(first=100, least=8, most=20_000, held=held)
    rests = pace.took(0.002) + pace.took(0.003)
    assert round(held.seconds, 9) == 0.005
    assert rests == (0.002 + 0.003) * REST  # the rests are not counted as held
    Pace(first=100, least=8, most=20_000).took(0.5)  # a pace without a tally counts nowhere
    assert round(held.seconds, 9) == 0.005


def rests(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pass's sleeps, recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr(pacing.time, "sleep", slept.append)
    return slept


def test_a_pass_rests_longer_when_another_writer_wrote_during_its_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept = rests(monkeypatch)
    held = Held()
    counter = itertools.count()  # a store in which every read finds a new write
    pace = Pace(first=100, least=8, most=20_000, held=held, writes_seen=lambda: next(counter))
    with pace.step():
        pass
    assert len(slept) == 2  # the rest, then the yield
    assert slept[1] >= max(YIELD_SECONDS, YIELD * held.seconds)
    assert held.yields == 1


def test_a_pass_alone_on_the_store_never_yields(monkeypatch: pytest.MonkeyPatch) -> None:
    slept = rests(monkeypatch)
    held = Held()
    pace = Pace(first=100, least=8, most=20_000, held=held, writes_seen=lambda: 7)
    for _ in range(3):
        with pace.step():
            pass
    assert len(slept) == 3  # one rest a step, no more
    assert held.yields == 0


def test_a_pass_keeps_yielding_while_writes_come_during_its_longer_rests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What the store says, read after each step, after its rest and after a longer rest.
    script = iter(
        [
            1,
            2,
            3,  # step 1: a write during its rest -> a longer rest, with a write in it
            3,
            3,
            4,  # step 2: none in its short rest, but still yielding -> a longer one, a write
            4,
            4,
            4,  # step 3: still yielding; no write in its longer rest
            4,
            4,  # step 4: none in its rest, not yielding: at its own pace again
        ]
    )
    slept = rests(monkeypatch)
    held = Held()
    pace = Pace(first=100, least=8, most=20_000, held=held, writes_seen=lambda: next(script))
    for _ in range(4):
        with pace.step():
            pass
    assert held.yields == 3
    assert len(slept) == 4 + 3
    assert [s >= YIELD_SECONDS for s in slept] == [False, True, False, True, False, True, False]


def test_what_a_pass_does_between_its_steps_runs_after_each_step() -> None:
    # The maintenance pass renews its lease there (service.maintenance.LeaseKeeper).
    between: list[int] = []
    pace = Pace(first=10, least=8, most=20, held=Held(between=lambda: between.append(1)))
    for step in range(3):
        with pace.step():
            assert len(between) == step  # not during a step: after it and its rest
    assert len(between) == 3
