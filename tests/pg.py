"""A real PostgreSQL server for the tests: Debian's binaries, a data directory of its own, a free
port on 127.0.0.1, started and stopped by the tests. It never uses the machine's own server.

``initdb`` refuses to run as root, so as root the server runs as the ``postgres`` user. The
server skips ``fsync`` (a killed server still keeps what the operating system holds) but keeps
``synchronous_commit``, so that a commit acknowledged is a commit kept, as in production.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

TEMPLATE = "poagate_template"


def bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    def __init__(self, durable: bool = False, options: str = "") -> None:
        """``durable=True`` keeps fsync on, as a production server has it (for benchmarks);
        ``options``: more of the server's settings, as ``-c name=value ...``."""
        self.durable = durable
        self.options = options
        binaries = bin_dir()
        if binaries is None:
            raise RuntimeError(
                "PostgreSQL's server binaries are not installed (Debian package postgresql); "
                "make test installs them"
            )
        self.bin = binaries
        self.root = Path(tempfile.mkdtemp(prefix="poagate-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        self.host = "127.0.0.1"  # the address it listens on
        self.prefix: list[str] = []  # what the server's commands run under (a namespace)
        self._watcher: subprocess.Popen[bytes] | None = None
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        subprocess.run(
            [*self.prefix, *prefix, *command], check=True, capture_output=True, timeout=120
        )

    def start(self) -> None:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        self._pg_ctl("start")
        self._watch()
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        from poagate.store.postgres import ensure_schema

        ensure_schema(self.url(TEMPLATE), "create")

    def _watch(self) -> None:
        """Stop the server and remove its files should this process die without stopping it
        (killed, or crashed: a segmentation fault once left a server running): a watcher in
        a session of its own waits for this process to end."""
        prefix = "runuser -u postgres -- " if self._as_postgres else ""
        script = (
            f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
            f"{prefix}{self.bin / 'pg_ctl'} -D {self.data} -m immediate -w stop; "
            f"rm -rf {self.root}"
        )
        self._watcher = subprocess.Popen(
            ["sh", "-c", script],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _pg_ctl(self, action: str) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses={self.host} "
        options += "-c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        if self.options:
            options += f" {self.options}"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-w",
            "-l",
            str(self.root / "server.log"),
            action,
        )

    def stop(self) -> None:
        """Stop the server and remove its files. Immediately: its data goes with it, so the
        shutdown checkpoint a fast stop writes is wasted (it took up to pg_ctl's 60 s timeout
        on a busy machine, at the end of every test run)."""
        if self._watcher is not None:  # stopped here: the watcher is not needed
            self._watcher.kill()
            self._watcher.wait()
            self._watcher = None
        with contextlib.suppress(subprocess.SubprocessError):
            self._run(
                str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"
            )
        shutil.rmtree(self.root, ignore_errors=True)

    def pause(self) -> None:
        """Stop the server (keeping its data), to see what clients do without it."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def resume(self) -> None:
        self._pg_ctl("start")

    def postmaster_pid(self) -> int:
        """The server's main process (its backends are its children)."""
        return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])

    def url(self, database: str) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    def fresh_database(self, template: str = TEMPLATE) -> str:
        """A new database copied from ``template`` (by default: the schema and nothing else).
        A template must have no connection while it is copied. ``FILE_COPY`` copies its files
        whole, three times faster than the default (WAL_LOG) for a small database."""
        name = f"t_{time.monotonic_ns()}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database ``fresh_database`` made, and any connection still open on it."""
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
