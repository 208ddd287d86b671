"""A PostgreSQL primary with a synchronous streaming standby, from Debian's binaries on
127.0.0.1, as production runs it (docs/operations.md "Deploy"): the failover test kills the
primary's processes with SIGKILL and promotes the standby the way docs/operations.md
"Failover" tells an operator to.

The standby is a ``pg_basebackup -R`` copy of the primary, so it inherits the primary's
``synchronous_standby_names`` (written with ``ALTER SYSTEM`` before the copy): promoted with it,
the new primary would wait for ever for a standby of its own on every commit. ``promote`` clears
it first.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import psycopg

from tests.pg import PostgresServer


class ReplicatedPostgres:
    """A primary (``tests.pg.PostgresServer``, the schema in its template database) and a
    synchronous standby streaming from it."""

    def __init__(self) -> None:
        self.primary = PostgresServer()
        self.standby = PostgresServer()

    def start(self) -> None:
        self.primary.start()
        with psycopg.connect(self.primary.url("postgres"), autocommit=True) as conn:
            # Written now, in force at the reload below: the copy takes the file with it.
            conn.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
        standby = self.standby
        standby._run(
            str(standby.bin / "pg_basebackup"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.primary.port),
            "-U",
            "postgres",
            "-D",
            str(standby.data),
            "-R",  # standby.signal and primary_conninfo
            "-X",
            "stream",
            "--no-sync",
            "--checkpoint=fast",  # not a spread checkpoint: that took over a minute
        )
        standby._pg_ctl("start")
        standby._watch()
        with psycopg.connect(self.primary.url("postgres"), autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'"
                ).fetchone()
                if row is not None and row[0] == 1:
                    return
                time.sleep(0.1)
        raise RuntimeError("the standby did not become synchronous within 60 s")

    def url(self, database: str) -> str:
        """The multi-host URL the servers are given: the primary first, then the standby, and
        only a host that accepts writes will do."""
        return (
            f"postgresql://postgres@127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}"
            f"/{database}?target_session_attrs=read-write&connect_timeout=2"
        )

    def kill_primary(self) -> None:
        """SIGKILL to the primary's postmaster and every process it started: its host died.
        Nothing is flushed, no connection is closed politely."""
        pid = int((self.primary.data / "postmaster.pid").read_text().split()[0])
        children = _children(pid)
        os.kill(pid, signal.SIGKILL)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)

    def promote(self) -> None:
        """What the operator does (docs/operations.md "Failover"): clear the inherited
        ``synchronous_standby_names`` (there is no standby of the standby), then promote and
        wait until it accepts writes."""
        with psycopg.connect(self.standby.url("postgres"), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM RESET synchronous_standby_names")
            conn.execute("SELECT pg_reload_conf()")
            conn.execute("SELECT pg_promote(wait => true, wait_seconds => 60)")

    def stop(self) -> None:
        self.standby.stop()
        self.primary.stop()


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            # pid (comm) state ppid ...: comm may hold spaces, so split after its ")".
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found
