"""A PostgreSQL server behind a network link the test can cut: the server runs in a network
namespace of its own, joined to this one by a veth pair, and ``cut`` takes the namespace's end
of the link down. Packets to it are then dropped without an answer (no reset, no refusal), as
on a real partition: a connection open across it hangs until TCP gives up on it.

Network namespaces need root (``CAP_NET_ADMIN``); ``available`` says why not when they cannot
be made, and the test skips with that reason.
"""

from __future__ import annotations

import contextlib
import os
import subprocess

from tests.pg import PostgresServer


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def available() -> str | None:
    """None when a network namespace can be made here, else why not."""
    name = f"poagate-probe-{os.getpid()}"
    try:
        _ip("netns", "add", name)
    except (OSError, subprocess.CalledProcessError) as exc:
        stderr = getattr(exc, "stderr", b"") or b""
        return f"no network namespace here ({exc}: {stderr.decode(errors='replace').strip()})"
    _ip("netns", "del", name)
    return None


class PartitionedPostgres(PostgresServer):
    """``tests.pg.PostgresServer`` in a network namespace, reached at ``host`` over a veth
    pair whose link ``cut`` and ``heal`` take down and up."""

    def __init__(self) -> None:
        super().__init__()
        tag = os.getpid() % 100_000
        self.namespace = f"poagate-{tag}"
        self.outside, self.inside = f"pga{tag}", f"pgb{tag}"
        subnet = f"10.213.{tag % 250}"
        self.gateway, self.host = f"{subnet}.1", f"{subnet}.2"
        _ip("netns", "add", self.namespace)
        _ip("link", "add", self.outside, "type", "veth", "peer", "name", self.inside)
        _ip("link", "set", self.inside, "netns", self.namespace)
        _ip("addr", "add", f"{self.gateway}/30", "dev", self.outside)
        _ip("link", "set", self.outside, "up")
        self._in_namespace("addr", "add", f"{self.host}/30", "dev", self.inside)
        self._in_namespace("link", "set", self.inside, "up")
        self._in_namespace("link", "set", "lo", "up")
        self.prefix = ["ip", "netns", "exec", self.namespace]

    def _in_namespace(self, *args: str) -> None:
        _ip("netns", "exec", self.namespace, "ip", *args)

    def _pg_ctl(self, action: str) -> None:
        if action == "start":  # initdb trusts loopback only; this side comes over the veth
            hba = self.data / "pg_hba.conf"
            line = f"host all all {self.gateway}/32 trust\n"
            if line not in hba.read_text():
                with hba.open("a") as file:
                    file.write(line)
        super()._pg_ctl(action)

    def cut(self) -> None:
        """The namespace's end of the link down: what is sent to the server is dropped."""
        self._in_namespace("link", "set", self.inside, "down")

    def heal(self) -> None:
        self._in_namespace("link", "set", self.inside, "up")

    def stop(self) -> None:
        super().stop()
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("netns", "del", self.namespace)  # takes the veth pair with it
