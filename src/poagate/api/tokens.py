"""The principal behind a bearer token (spec §10) and the short cache of token look-ups: how
the API and the console know who calls. Lookups are cached for a couple of seconds, which is
how long a revoked token may still work. Tokens themselves, their roles and how they are made
are ``poagate.service.access``'s (the command line makes tokens too).
"""

from __future__ import annotations

import collections
import time

from poagate.domain.actors import Actor, Channel, token_actor
from poagate.domain.values import value


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
    def actor(self) -> Actor:
        """Who acts, through the HTTP API (the console's pages say ``acting("console")``)."""
        return self.acting("api")

    def acting(self, channel: Channel) -> Actor:
        """Who acts with this token through ``channel``, as the audit log records it."""
        return token_actor(self.token_id, self.role, channel)


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
