"""``poagate log export ... | head`` ends quietly: the reader closing the pipe early printed
"Exception ignored ... Cannot operate on a closed database" (and a broken-pipe error)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from poagate.domain.outcomes import SuppressionEntry
from poagate.store.batch import Batch
from poagate.store.sqlite import SqliteStore
from tests.helpers import activation, ad1, gate

ENTRIES = 2_000  # about 600 KB of CSV: far more than a pipe holds


def test_log_export_into_a_pipe_closed_early_ends_quietly(tmp_path: Path) -> None:
    database = tmp_path / "poagate.db"
    deciding = gate()
    opened = activation("2026-03-01T10:00:00Z")
    deciding.apply(opened, opened.received_at)
    outcomes = [
        deciding.apply(event, event.received_at)
        for n in range(ENTRIES)
        for event in [ad1(f"PIPE-{n}", "2026-03-01T10:05:00Z")]
    ]
    assert all(isinstance(o, SuppressionEntry) for o in outcomes)
    with SqliteStore(database, schema="create") as store:
        store.decisions.commit(Batch(ad1_outcomes=outcomes))
    operator = outcomes[0].network_operator
    command = [sys.executable, "-m", "poagate.cli", "log", "export", "--db", str(database)]
    command += ["--network-operator", operator, "--format", "csv"]
    export = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert export.stdout is not None
    assert export.stderr is not None
    assert export.stdout.readline().startswith(b"alert_id,")  # as head -n 1 does
    export.stdout.close()
    stderr = export.stderr.read().decode()
    assert export.wait(timeout=60) == 1
    assert stderr == ""  # no "Exception ignored", no "Broken pipe", no traceback
