"""spec §8: a replay killed part-way and run again gives exactly an uninterrupted run's outcomes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from poagate.formats.reference.inventory import write_inventory
from poagate.service.replay import ReplayRequest, replay
from poagate.sim.fleet import FleetSpec, generate_fleet
from poagate.sim.traffic import TrafficSpec, generate_traffic
from poagate.store import StoreError
from poagate.store.sqlite import SqliteStore
from poagate.store.store import Store
from tests.replay_scenario import Outputs

pytestmark = pytest.mark.slow


def make_input(directory: Path, esmes: int, activations: int, genuine: int) -> list[Path]:
    fleet = generate_fleet(FleetSpec(esmes=esmes, seed=3))
    traffic = generate_traffic(
        fleet,
        TrafficSpec(
            days=3,
            activations=activations,
            genuine_ad1=genuine,
            duis_share=0.05,
            malformed=30,
            seed=3,
        ),
        keep_truth=False,
    )
    with (directory / "inventory.csv").open("w", newline="") as f:
        write_inventory(fleet.devices(), f)
    (directory / "guid.txt").write_text("\n".join(fleet.guid_list()) + "\n")
    return traffic.write(directory)


@pytest.fixture(scope="module")
def large_input(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """About 90,000 events in two feeds over 8,000 sites (12 MB): enough batches to kill in."""
    directory = tmp_path_factory.mktemp("crash-input")
    return directory, make_input(directory, esmes=8_000, activations=12_000, genuine=70_000)


@pytest.fixture(scope="module")
def uninterrupted(
    large_input: tuple[Path, list[Path]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    directory, events = large_input
    out = tmp_path_factory.mktemp("uninterrupted")
    completed = run_replay(directory, events, out)
    assert completed.returncode == 0, completed.stderr
    files = Outputs(out / "out", "").files_without_run_details()
    assert files["summary"]["ad1_suppressed"] > 1000  # the input exercises the rules
    return files


def command(directory: Path, events: list[Path], out: Path, batch: int = 5_000) -> list[str]:
    return [
        sys.executable,
        "-m",
        "poagate.cli",
        "replay",
        "--inventory",
        str(directory / "inventory.csv"),
        "--guid-list",
        str(directory / "guid.txt"),
        "--db",
        str(out / "poagate.db"),
        "--out",
        str(out / "out"),
        "--batch-size",
        str(batch),
        *map(str, events),
    ]


def run_replay(directory: Path, events: list[Path], out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(directory, events, out), capture_output=True, text=True, check=False, timeout=600
    )


def events_done(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute("SELECT COALESCE(SUM(events_done), 0) FROM sources").fetchone()
    except sqlite3.OperationalError:
        return 0  # not created yet
    return int(row[0])


def writer_processes(db: Path) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"poagate.service.writer" in cmdline and str(db).encode() in cmdline:
            found.append(int(pid))
    return found


def kill_when(
    directory: Path, events: list[Path], out: Path, at_least: int, whole_group: bool
) -> None:
    """Start a replay, wait until ``at_least`` events are committed, then kill -9 it."""
    process = subprocess.Popen(
        command(directory, events, out),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    db = out / "poagate.db"
    deadline = time.monotonic() + 300
    while events_done(db) < at_least:
        if process.poll() is not None:
            pytest.fail(f"the replay finished before {at_least} events were committed")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the replay made no progress")
        time.sleep(0.02)
    if whole_group:
        os.killpg(process.pid, signal.SIGKILL)
    else:
        process.send_signal(signal.SIGKILL)  # the writer must die with it
    process.wait()
    deadline = time.monotonic() + 10
    while writer_processes(db) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not writer_processes(db), "a writer process outlived the replay it served"


@pytest.mark.parametrize(
    ("kills", "whole_group"),
    [
        ([0], False),  # during the reference load, before any batch
        ([10_000], False),
        ([45_000], True),
        ([20_000, 70_000], False),  # killed twice, resumed twice
    ],
)
def test_killed_replay_resumes_to_the_uninterrupted_outcomes(
    large_input: tuple[Path, list[Path]],
    uninterrupted: dict[str, Any],
    tmp_path: Path,
    kills: list[int],
    whole_group: bool,
) -> None:
    directory, events = large_input
    for at_least in kills:
        kill_when(directory, events, tmp_path, at_least, whole_group)
    committed = events_done(tmp_path / "poagate.db")
    assert committed < uninterrupted["summary"]["events_read"], "killed after the end"
    completed = run_replay(directory, events, tmp_path)
    assert completed.returncode == 0, completed.stderr
    result = Outputs(tmp_path / "out", "")
    assert result.files_without_run_details() == uninterrupted
    assert result.summary["run"]["events_already_applied"] == committed


def failing_after(batches: int, store: Store) -> None:
    """Make the store's writes fail after ``batches`` successful commits (an in-process
    crash)."""
    original = store.decisions.write
    count = 0

    def write(rows: Any) -> None:
        nonlocal count
        if count >= batches:
            raise OSError("disk full (simulated)")
        count += 1
        original(rows)

    store.decisions.write = write  # type: ignore[method-assign]


@pytest.mark.parametrize("writer_process", [False, True])
def test_failed_commit_leaves_a_store_that_resumes_exactly(
    large_input: tuple[Path, list[Path]],
    uninterrupted: dict[str, Any],
    tmp_path: Path,
    writer_process: bool,
) -> None:
    directory, events = large_input
    request = ReplayRequest(
        directory / "inventory.csv",
        directory / "guid.txt",
        events,
        tmp_path / "out",
        batch_size=5_000,
        writer_process=False,
    )
    with SqliteStore(tmp_path / "poagate.db", schema="create") as store:
        failing_after(4, store)
        with pytest.raises(OSError, match="disk full"):
            replay(store, request)
    request.writer_process = writer_process
    with SqliteStore(tmp_path / "poagate.db") as store:
        report = replay(store, request)
    assert report.summary["run"]["events_already_applied"] > 0
    assert Outputs(tmp_path / "out", "").files_without_run_details() == uninterrupted


def test_writer_process_and_in_process_commits_give_the_same_files(
    large_input: tuple[Path, list[Path]], uninterrupted: dict[str, Any], tmp_path: Path
) -> None:
    directory, events = large_input
    for writer_process in (False, True):
        out = tmp_path / str(writer_process)
        out.mkdir()
        with SqliteStore(out / "poagate.db", schema="create") as store:
            replay(
                store,
                ReplayRequest(
                    directory / "inventory.csv",
                    directory / "guid.txt",
                    events,
                    out / "out",
                    writer_process=writer_process,
                ),
            )
        assert Outputs(out / "out", "").files_without_run_details() == uninterrupted


def test_a_dead_writer_stops_the_replay_with_a_clear_error(
    large_input: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    directory, events = large_input
    request = ReplayRequest(
        directory / "inventory.csv",
        directory / "guid.txt",
        events,
        tmp_path / "out",
        batch_size=5_000,
        writer_process=True,
    )
    from poagate.service import writer as writer_module

    original_submit = writer_module.WriterProcess.submit
    submitted = 0

    def submit(self: writer_module.WriterProcess, rows: Any) -> None:
        nonlocal submitted
        submitted += 1
        if submitted == 3:
            self._process.kill()  # the writer dies under the replay
            self._process.wait()
        original_submit(self, rows)

    with SqliteStore(tmp_path / "poagate.db", schema="create") as store:
        writer_module.WriterProcess.submit = submit  # type: ignore[method-assign]
        try:
            with pytest.raises(StoreError, match="writer process"):
                replay(store, request)
        finally:
            writer_module.WriterProcess.submit = original_submit  # type: ignore[method-assign]
