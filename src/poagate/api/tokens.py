"""Bearer tokens, roles and the principal behind a token (spec §10).

* ``admin`` (DCC operations): everything, and reference data and configuration changes.
* ``dsp`` (the DSP's message flow): submits messages; reads nothing back but the decisions on
  what it submitted.
* ``dno`` bound to network-operator ids: reads the Suppression Log entries and forwarded AD1s
  of those ids, and nothing else — not even counts of others.

A token is ``pg_`` and 43 random URL-safe characters; the store keeps only its SHA-256, so a
copy of the database gives nobody a working token. Lookups are cached for a couple of seconds,
which is how long a revoked token may still work. The command line makes tokens too, so this
module holds no route.
"""

from __future__ import annotations

import collections
import hashlib
import secrets
import time

from poagate.domain.ids import parse_network_operator
from poagate.domain.values import value

ROLES = ("admin", "dsp", "dno")
TOKEN_PREFIX = "pg_"  # noqa: S105 - a prefix, not a secret


@value
class Principal:
    token_id: int
    role: str
    network_operators: frozenset[str]

    @property
    def scope(self) -> frozenset[str] | None:
        """The network operators whose data this caller sees; None for all (admin)."""
        return None if self.role == "admin" else self.network_operators

    @property
    def actor(self) -> str:
        return f"token {self.token_id} ({self.role})"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def checked_operators(role: str, operators: list[str]) -> list[str]:
    """The network operators a token of ``role`` is bound to: a DNO's needs one or more."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    canonical = sorted({parse_network_operator(o) for o in operators})
    if role == "dno" and not canonical:
        raise ValueError("a dno token needs at least one network operator id")
    if role != "dno" and canonical:
        raise ValueError(f"a {role} token is not bound to network operators")
    return canonical


class TokenCache:
    """SHA-256 → principal, for a few seconds, for at most ``size`` tokens.

    Only tokens that were found are kept: a failed look-up is asked of the store again, so that
    a flood of made-up tokens cannot fill the cache and push out the real ones. When full, the
    entry used longest ago goes (least recently used); nothing is ever dropped wholesale.
    """

    def __init__(self, seconds: float, size: int = 10_000) -> None:
        self.seconds = seconds
        self.size = size
        self._entries: collections.OrderedDict[str, tuple[float, Principal]] = (
            collections.OrderedDict()
        )

    def get(self, digest: str) -> Principal | None:
        """The principal of a token looked up in the last few seconds, else None."""
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._entries.pop(digest, None)
            return None
        self._entries.move_to_end(digest)
        return entry[1]

    def put(self, digest: str, principal: Principal) -> None:
        self._entries[digest] = (time.monotonic() + self.seconds, principal)
        self._entries.move_to_end(digest)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
