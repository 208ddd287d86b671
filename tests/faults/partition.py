"""A PostgreSQL server behind network links the test can cut: the server runs in a network
namespace of its own, joined to this one by veth pairs (one a link, each its own subnet), and
``cut`` takes the namespace's end of a link down. Packets over it are then dropped without an
answer (no reset, no refusal), as on a real partition: a connection open across it hangs until
TCP gives up on it. A server given one link's URL and another the other's are cut apart.

Network namespaces need root (``CAP_NET_ADMIN``); ``available`` says why not when they cannot
be made, and the tests skip with that reason.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess

from tests.pg import PostgresServer

_SERIALS = itertools.count()


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
    """``tests.pg.PostgresServer`` in a network namespace, reached over ``links`` veth pairs:
    ``url`` goes over the first, ``url_via`` over any; ``cut`` and ``heal`` take one down and
    up."""

    def __init__(self, links: int = 1) -> None:
        super().__init__()
        # Names of their own for each server of this process: a namespace deleted by the test
        # before goes away in the background, its veth pairs with it, so reusing its names
        # at once failed ("File exists").
        serial = next(_SERIALS)
        pid = os.getpid() % 100_000
        tag = f"{pid}s{serial}"
        self.namespace = f"poagate-{tag}"
        _ip("netns", "add", self.namespace)
        self.prefix = ["ip", "netns", "exec", self.namespace]
        self.links: list[tuple[str, str, str]] = []  # (namespace's end, this end, address)
        try:
            for n in range(links):
                outside, inside = f"pga{tag}x{n}", f"pgb{tag}x{n}"
                subnet = f"10.{213 + n}.{(pid + 37 * serial) % 250}"
                _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
                _ip("link", "set", inside, "netns", self.namespace)
                _ip("addr", "add", f"{subnet}.1/30", "dev", outside)
                _ip("link", "set", outside, "up")
                self._in_namespace("addr", "add", f"{subnet}.2/30", "dev", inside)
                self._in_namespace("link", "set", inside, "up")
                self.links.append((inside, f"{subnet}.1", f"{subnet}.2"))
            self._in_namespace("link", "set", "lo", "up")
        except BaseException:
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("netns", "del", self.namespace)
            raise
        self.host = ",".join(address for _, _, address in self.links)  # listen_addresses

    def _in_namespace(self, *args: str) -> None:
        _ip("netns", "exec", self.namespace, "ip", *args)

    def _pg_ctl(self, action: str) -> None:
        if action == "start":  # initdb trusts loopback only; clients come over the veths
            hba = self.data / "pg_hba.conf"
            text = hba.read_text()
            with hba.open("a") as file:
                for _, gateway, _ in self.links:
                    line = f"host all all {gateway}/32 trust\n"
                    if line not in text:
                        file.write(line)
        super()._pg_ctl(action)

    def url(self, database: str) -> str:
        return self.url_via(0, database)

    def url_via(self, link: int, database: str) -> str:
        return f"postgresql://postgres@{self.links[link][2]}:{self.port}/{database}"

    def cut(self, link: int = 0) -> None:
        """The namespace's end of ``link`` down: what is sent over it is dropped."""
        self._in_namespace("link", "set", self.links[link][0], "down")

    def heal(self, link: int = 0) -> None:
        self._in_namespace("link", "set", self.links[link][0], "up")

    def stop(self) -> None:
        super().stop()
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("netns", "del", self.namespace)  # takes the veth pairs with it
