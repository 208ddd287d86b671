"""``poagate demo``: a small simulated week through the real gate, end to end."""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.helpers import run_demo


def test_demo_prints_a_table_per_dno_and_writes_a_log_per_dno(tmp_path: Path) -> None:
    result = run_demo(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "site visits avoided" in result.stdout
    assert f"poagate serve --database {tmp_path / 'demo.db'}" in result.stdout
    # It ends by telling how to open the console on the demo data.
    assert "http://127.0.0.1:8000/ui/" in result.stdout
    assert f"poagate token create --database {tmp_path / 'demo.db'} --role admin" in (result.stdout)
    rows = [line for line in result.stdout.splitlines() if line.startswith("│ ")]
    operators = {line.split("│")[1].strip() for line in rows}
    assert {"10", "12", "23", "all"} <= operators
    logs = sorted((tmp_path / "out" / "suppression-log").glob("dno-*.csv"))
    assert len(logs) >= 10
    with sqlite3.connect(tmp_path / "demo.db") as conn:
        by_operator = dict(
            conn.execute(
                "SELECT network_operator, COUNT(*) FROM ad1_outcomes WHERE suppressed "
                "GROUP BY network_operator"
            ).fetchall()
        )
    for log in logs:
        operator = log.stem.removeprefix("dno-")
        with log.open() as f:
            entries = list(csv.DictReader(f))
        assert len(entries) == by_operator.get(operator, 0)
        assert all(e["network_operator"] == operator for e in entries)
    assert sum(by_operator.values()) > 0


def test_demo_replaces_its_own_database_but_no_other(tmp_path: Path) -> None:
    assert run_demo(tmp_path).returncode == 0
    again = run_demo(tmp_path)
    assert again.returncode == 0, again.stderr
    (tmp_path / "demo.db").unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp_path / 'demo.db'}{suffix}").unlink(missing_ok=True)
    with sqlite3.connect(tmp_path / "demo.db") as conn:
        conn.execute("CREATE TABLE precious (x)")
    refused = run_demo(tmp_path)
    assert refused.returncode == 1
    assert "was not made by poagate demo" in refused.stderr


def test_demo_will_not_fill_a_postgresql_database_named_by_the_environment(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "poagate.cli", "demo", "--esmes", "100", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "POAGATE_DATABASE": "postgresql://nobody@127.0.0.1:1/none"},
    )
    assert result.returncode == 1
    assert "the demo fills a SQLite file" in result.stderr
    assert not list(tmp_path.iterdir())
