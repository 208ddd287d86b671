"""A replay on disk: input files, ``poagate replay`` through the real command line, its output
files read back, and the event lines the replay tests write."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from poagate.cli import app
from poagate.service.replay import ReplayRequest, replay
from poagate.store.sqlite import SqliteStore
from tests.helpers import CHF, ESME, INVENTORY_HEADER, USER, write_lines


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "poagate.cli", *args], capture_output=True, text=True, check=False
    )


@dataclass
class Scenario:
    """A directory with an inventory, a GUID list and event files, and a way to replay them."""

    root: Path
    runner: CliRunner

    @property
    def inventory(self) -> Path:
        return self.root / "inventory.csv"

    @property
    def guid_list(self) -> Path:
        return self.root / "guid.txt"

    def write_inventory(self, *rows: str) -> Path:
        self.inventory.write_text("\n".join((INVENTORY_HEADER, *rows)) + "\n")
        return self.inventory

    def write_guid_list(self, *devices: str) -> Path:
        self.guid_list.write_text("device_id\n" + "\n".join(devices) + "\n")
        return self.guid_list

    def events(self, name: str, lines: Iterable[dict[str, Any] | bytes | str]) -> Path:
        return write_lines(self.root / name, lines)

    def replay_process(
        self, *events: Path, inventory: Path | None = None, extra: Iterable[str] = ()
    ) -> subprocess.CompletedProcess[str]:
        """``poagate replay`` as its own process, for exit codes and what it prints."""
        return run_cli(
            "replay",
            "--inventory",
            str(inventory or self.inventory),
            "--guid-list",
            str(self.guid_list),
            "--out",
            str(self.root / "o"),
            *extra,
            *map(str, events),
        )

    def export(self, db: str, *args: str) -> Result:
        """``poagate log export`` on a database of this scenario."""
        return self.runner.invoke(app, ["log", "export", "--db", str(self.root / db), *args])

    def replay(
        self,
        *events: Path,
        out: str = "out",
        db: str | None = None,
        extra: Iterable[str] = (),
        expect: int = 0,
    ) -> Outputs:
        args = [
            "replay",
            "--inventory",
            str(self.inventory),
            "--guid-list",
            str(self.guid_list),
            "--out",
            str(self.root / out),
            *extra,
        ]
        if db is not None:
            args += ["--db", str(self.root / db)]
        result = self.runner.invoke(app, [*args, *map(str, events)])
        assert result.exit_code == expect, result.output
        return Outputs(self.root / out, result.output)


@dataclass
class Outputs:
    directory: Path
    output: str

    def lines(self, name: str) -> list[dict[str, Any]]:
        path = self.directory / name
        return [json.loads(line) for line in path.read_text().splitlines()]

    @property
    def forwarded(self) -> list[dict[str, Any]]:
        return self.lines("forwarded.jsonl")

    @property
    def suppressed(self) -> list[dict[str, Any]]:
        return self.lines("suppression_log.jsonl")

    @property
    def activations(self) -> list[dict[str, Any]]:
        return self.lines("activations.jsonl")

    @property
    def rejected(self) -> list[dict[str, Any]]:
        return self.lines("rejected.jsonl")

    @property
    def verifications(self) -> list[dict[str, Any]]:
        return self.lines("verifications.jsonl")

    @property
    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.directory / "summary.json").read_text())
        return data

    def outcomes(self) -> dict[str, str]:
        """alert_id -> "suppressed", "forwarded" or "released": suppressed, then released by a
        spec §9 guard; its entry stays in the log with ``released_at``, and forwarded.jsonl
        lists it once, decided at its release with the release's reason."""
        log = {entry["alert_id"]: entry for entry in self.suppressed}
        assert len(log) == len(self.suppressed), "an alert twice in the Suppression Log"
        result: dict[str, str] = {}
        for alert in self.forwarded:
            alert_id = alert["alert_id"]
            assert alert_id not in result, "an alert forwarded twice"
            entry = log.get(alert_id)
            if entry is None:
                result[alert_id] = "forwarded"
            else:
                assert entry["released_at"] is not None, "an alert with two outcomes"
                assert (alert["decided_at"], alert["reason"]) == (
                    entry["released_at"],
                    entry["release_reason"],
                )
                result[alert_id] = "released"
        for alert_id, entry in log.items():
            if alert_id not in result:
                assert entry["released_at"] is None, "a released entry never forwarded"
                result[alert_id] = "suppressed"
        return result

    def files_without_run_details(self) -> dict[str, Any]:
        """Every output file, with the summary's per-run section left out (it has timings)."""
        contents: dict[str, Any] = {
            name: (self.directory / name).read_bytes()
            for name in (
                "forwarded.jsonl",
                "suppression_log.jsonl",
                "activations.jsonl",
                "rejected.jsonl",
                "verifications.jsonl",
            )
        }
        summary = self.summary
        summary.pop("run")
        contents["summary"] = summary
        return contents


def replay_killed(database: Path, request: ReplayRequest, writes: int) -> None:
    """``replay`` ``request`` into ``database`` with its commits failing, as a kill would, after
    ``writes`` of them (the inventory and the GUID list are the first two)."""
    with SqliteStore(database, schema="create") as store:
        commit = store.decisions.write
        written: list[Any] = []

        def write_until_killed(rows: Any) -> None:
            if len(written) == writes:
                raise OSError("killed (simulated)")
            written.append(rows)
            commit(rows)

        store.decisions.write = write_until_killed  # type: ignore[method-assign]
        with pytest.raises(OSError, match="killed"):
            replay(store, request)


def whole_and_killed(
    scenario: Scenario, events: list[Path], writes: int, **options: Any
) -> tuple[Outputs, Outputs, dict[str, Any]]:
    """``events`` replayed (with ``options``, a batch at a time in this process) uninterrupted
    into ``whole``, and into ``crashed`` killed after ``writes`` commits then run again: both
    outputs, and the summary of the run that resumed."""
    root, inventory, guid_list = scenario.root, scenario.inventory, scenario.guid_list

    def request(out: str) -> ReplayRequest:
        return ReplayRequest(
            inventory, guid_list, events, root / out, writer_process=False, **options
        )

    with SqliteStore(root / "whole.db", schema="create") as store:
        replay(store, request("whole"))
    replay_killed(root / "crashed.db", request("crashed"), writes)
    with SqliteStore(root / "crashed.db") as store:
        resumed = replay(store, request("crashed"))
    return Outputs(root / "whole", ""), Outputs(root / "crashed", ""), resumed.summary


# -- event lines ------------------------------------------------------------------------------


def act(received: str, device: str = ESME, counter: int = 1000, **extra: Any) -> dict[str, Any]:
    return {
        "type": "activation",
        "request_id": f"{USER}:{device}:{counter}",
        "received_at": received,
        **extra,
    }


def ad1(alert_id: str, received: str, event: str | None = None, chf: str = CHF) -> dict[str, Any]:
    line: dict[str, Any] = {
        "type": "ad1",
        "alert_id": alert_id,
        "chf_id": chf,
        "received_at": received,
    }
    if event is not None:
        line["event_at"] = event
    return line
