"""The tests' own PostgreSQL server goes when the test process dies without stopping it
(killed, or crashed), rather than running on with its files in /tmp."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.helpers import ROOT

CHILD = """
import time
from tests.pg import PostgresServer
server = PostgresServer()
server.start()
print(server.port, server.root, flush=True)
time.sleep(120)
"""


@pytest.mark.slow
def test_a_killed_test_process_leaves_no_server_behind() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        port, root = child.stdout.readline().split()
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        with psycopg.connect(url, connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        child.kill()
        child.wait()
    deadline = time.monotonic() + 30
    while Path(root).exists():
        assert time.monotonic() < deadline, "the server's files are still there"
        time.sleep(0.2)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
