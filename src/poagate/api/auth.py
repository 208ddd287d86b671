"""Who is calling: the bearer token of a request, and what its role may do (spec §10)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from poagate.api.context import AppContext, context_of
from poagate.api.problems import Problem
from poagate.api.tokens import Principal
from poagate.service.access import TOKEN_PREFIX, token_sha256

UNAUTHORIZED = Problem(
    401,
    "Unauthorized",
    "send a valid token: Authorization: Bearer <token> (poagate token create makes one)",
    {"WWW-Authenticate": 'Bearer realm="poagate"'},
)


# The bearer scheme, for the OpenAPI description (every route that needs a token names it);
# the header is read here, and a missing or malformed one is our own 401 problem.
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token (pg_…): poagate token create, or POST /v1/tokens.",
)


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Principal:
    """The caller behind the bearer token (else 401). ``async``: FastAPI would run a plain
    function in a thread pool, a hop that cost a quarter of a message's handling; the
    database is asked (in a thread) only when the token is not in the cache."""
    token = "" if credentials is None else credentials.credentials.strip()
    if not token.startswith(TOKEN_PREFIX):
        raise UNAUTHORIZED
    principal = await principal_of(context_of(request), token_sha256(token))
    if principal is None:
        raise UNAUTHORIZED
    request.state.principal = principal
    return principal


async def caller(request: Request, *roles: str) -> Principal:
    """What ``Depends(require(*roles))`` gives — the caller, 401 or 403 alike — called from
    the route itself. For ``POST /v1/messages``, the route of every message: FastAPI's
    resolution of the three nested dependencies (``require``, ``authenticate``, ``BEARER``)
    took a fifth of a single message's time on the event loop (507 against 414 us of CPU a
    message, benchmarks in docs/performance.md). The route names the bearer scheme in its
    OpenAPI description itself."""
    return allowed(await authenticate(request, await BEARER(request)), roles)


def allowed(principal: Principal, roles: tuple[str, ...]) -> Principal:
    """``principal``, who must hold one of ``roles`` (else 403)."""
    if principal.role not in roles:
        raise Problem(
            403,
            "Forbidden",
            f"this needs the role {' or '.join(roles)}; the token has the role {principal.role}",
        )
    return principal


async def principal_of(context: AppContext, digest: str) -> Principal | None:
    """The caller behind a token's SHA-256, None when no valid token has it: from the token
    cache, else from the store. The API (each request) and the console (each page of a
    session) both ask here, so a revoked token stops working in both within the cache's
    seconds."""
    principal = context.tokens.get(digest)
    if principal is None:
        if context.tokens.refused(digest):
            return None
        principal = await asyncio.to_thread(_look_up, context, digest)
        if principal is None:
            context.tokens.refuse(digest)
            return None
        context.tokens.put(digest, principal)
    return principal


def _look_up(context: AppContext, digest: str) -> Principal | None:
    # Anyone can make a look-up happen, token or not: it gets the pool's share for work
    # nobody has been proved to ask for, so a flood of made-up tokens leaves the rest of the
    # connections to the callers who are known.
    with context.reads.borrow_unproven() as store:
        record = store.tokens.get(digest)
    if record is None or record.revoked_at is not None:
        return None
    return Principal(record.id, record.role, record.network_operators)


def require(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the caller, who must hold one of ``roles`` (else 403)."""

    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        return allowed(principal, roles)

    return check
