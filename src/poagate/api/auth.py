"""Bearer tokens and what each role may do (SPEC §10).

* ``admin`` (DCC operations): everything, and reference data and configuration changes.
* ``dsp`` (the DSP's message flow): submits messages; reads nothing back but the decisions on
  what it submitted.
* ``dno`` bound to network-operator ids: reads the Suppression Log entries and forwarded AD1s
  of those ids, and nothing else — not even counts of others.

A token is ``pg_`` and 43 random URL-safe characters; the store keeps only its SHA-256, so a
copy of the database gives nobody a working token. Lookups are cached for a couple of seconds,
which is how long a revoked token may still work.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from poagate.api.problems import Problem
from poagate.domain.values import value

if TYPE_CHECKING:
    from poagate.api.service import Service

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


class TokenCache:
    """SHA-256 → principal (or None), for a few seconds."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._entries: dict[str, tuple[float, Principal | None]] = {}

    def get(self, digest: str) -> tuple[bool, Principal | None]:
        entry = self._entries.get(digest)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, digest: str, principal: Principal | None) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[digest] = (time.monotonic() + self.seconds, principal)


UNAUTHORIZED = Problem(
    401,
    "Unauthorized",
    "send a valid token: Authorization: Bearer <token> (poagate token create makes one)",
    {"WWW-Authenticate": 'Bearer realm="poagate"'},
)


async def authenticate(request: Request) -> Principal:
    """The caller behind the bearer token (else 401). ``async``: FastAPI would run a plain
    function in a thread pool, a hop that cost a quarter of a message's handling; the
    database is asked (in a thread) only when the token is not in the cache."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip().startswith(TOKEN_PREFIX):
        raise UNAUTHORIZED
    digest = token_sha256(token.strip())
    from poagate.api.service import service_of  # the service module imports this one

    service = service_of(request)
    known, principal = service.tokens.get(digest)
    if not known:
        principal = await asyncio.to_thread(_look_up, service, digest)
        service.tokens.put(digest, principal)
    if principal is None:
        raise UNAUTHORIZED
    request.state.principal = principal
    return principal


def _look_up(service: Service, digest: str) -> Principal | None:
    with service.reads.borrow() as store:
        record = store.token(digest)
    if record is None or record.revoked_at is not None:
        return None
    return Principal(record.id, record.role, record.network_operators)


def require(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the caller, who must hold one of ``roles`` (else 403)."""

    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.role not in roles:
            raise Problem(
                403,
                "Forbidden",
                f"this needs the role {' or '.join(roles)}; the token has the role "
                f"{principal.role}",
            )
        return principal

    return check
