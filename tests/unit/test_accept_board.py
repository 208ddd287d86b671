"""The board a server's workers steer their accepts by (poagate.api.accepting): slots claimed
by pid, a dead worker's slot taken by its successor, and who holds fewer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from poagate.api.accepting import Board


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def board(tmp_path: Path, slots: int = 4) -> Board:
    path = str(tmp_path / "board")
    Board.create(path, slots)
    return Board(path)


def test_each_worker_claims_a_slot_of_its_own_and_the_board_says_who_holds_fewer(
    tmp_path: Path,
) -> None:
    shared = board(tmp_path)
    mine = shared.claim(os.getpid())
    # The other worker: this test's parent stands for a live process of another pid.
    other = shared.claim(os.getppid())
    assert mine is not None
    assert other is not None
    assert mine != other
    assert not shared.fewer_elsewhere(mine)  # 0 and 0
    shared.add(mine, 1)
    assert shared.fewer_elsewhere(mine)  # 1 against 0: step back
    assert not shared.fewer_elsewhere(other)
    shared.add(other, 1)
    assert not shared.fewer_elsewhere(mine)  # 1 and 1
    shared.add(mine, -1)
    shared.add(mine, -1)  # a count never goes below 0
    assert shared.read(mine) == (os.getpid(), 0)


def test_a_dead_worker_is_not_waited_for_and_its_slot_goes_to_the_next(tmp_path: Path) -> None:
    shared = board(tmp_path, slots=2)
    mine = shared.claim(os.getpid())
    assert mine == 0
    assert shared.claim(dead_pid()) == 1  # a worker that has since died, holding none
    shared.add(mine, 3)
    assert not shared.fewer_elsewhere(mine)  # a dead worker's 0 does not count
    # The board is full but for the dead worker's slot: its successor takes it.
    assert shared.claim(os.getppid()) == 1
    assert shared.read(1) == (os.getppid(), 0)
    assert shared.fewer_elsewhere(mine)


def test_a_full_board_claims_nothing_and_a_released_slot_is_free_again(tmp_path: Path) -> None:
    shared = board(tmp_path, slots=1)
    mine = shared.claim(os.getpid())
    assert mine == 0
    assert shared.claim(os.getppid()) is None
    shared.release(mine)
    assert shared.claim(os.getppid()) == 0


def test_the_same_worker_claiming_again_keeps_one_slot(tmp_path: Path) -> None:
    shared = board(tmp_path)
    first = shared.claim(os.getpid())
    assert shared.claim(os.getpid()) == first
    assert [shared.read(n)[0] for n in range(shared.slots)].count(os.getpid()) == 1


def test_a_dead_worker_s_slot_is_taken_before_a_free_one(tmp_path: Path) -> None:
    shared = board(tmp_path, slots=3)
    assert shared.claim(os.getpid()) == 0
    assert shared.claim(os.getppid()) == 1
    shared.release(1)  # slot 1 free again
    shared._write(2, dead_pid(), 4)  # slot 2: a worker that died holding 4
    assert shared.claim(os.getppid()) == 2  # not left to linger with a pid the system may reuse
    assert shared.read(2) == (os.getppid(), 0)
