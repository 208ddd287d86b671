"""The principal behind a bearer token (spec §10) and the short cache of token look-ups: how
the API and the console know who calls. Lookups are cached for a couple of seconds, which is
how long a revoked token may still work; a token that was not found is remembered as refused
for as long, apart, so a client sending the same made-up token again and again costs the store
one look-up each few seconds. Tokens themselves, their roles and how they are made are
``poagate.service.access``'s (the command line makes tokens too).
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
    """SHA-256 → principal, for a few seconds, for at most ``size`` tokens; and apart from
    them, the SHA-256s of tokens that were not found (``refused``), for as long, at most
    ``size`` of them.

    A flood of made-up tokens fills only the refused ones, so it cannot push out the real
    tokens. When full, the entry used longest ago goes (least recently used); nothing is ever
    dropped wholesale. A token made after its SHA-256 was refused works once the refusal's
    seconds are over (a new token is random: nobody has tried it before).
    """

    def __init__(self, seconds: float, size: int = 10_000) -> None:
        self.seconds = seconds
        self.size = size
        self._entries: collections.OrderedDict[str, tuple[float, Principal]] = (
            collections.OrderedDict()
        )
        self._refused: collections.OrderedDict[str, float] = collections.OrderedDict()

    def refused(self, digest: str) -> bool:
        """Whether the token was looked up and not found in the last few seconds."""
        until = self._refused.get(digest)
        if until is None:
            return False
        if until < time.monotonic():
            self._refused.pop(digest, None)
            return False
        return True

    def refuse(self, digest: str) -> None:
        if self.seconds <= 0:
            return
        self._refused[digest] = time.monotonic() + self.seconds
        self._refused.move_to_end(digest)
        while len(self._refused) > self.size:
            self._refused.popitem(last=False)

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
