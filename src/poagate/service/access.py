"""Bearer tokens (spec §10), below the entry points: the HTTP API's admin routes and
``poagate token`` issue them the same way (``issue_token``), and the API and the console check
them by the same digest (``token_sha256``).

* ``admin`` (DCC operations): everything, and reference data and configuration changes.
* ``dsp`` (the DSP's message flow): submits messages; reads nothing back but the decisions on
  what it submitted.
* ``dno`` bound to network-operator ids: reads the Suppression Log entries and forwarded AD1s
  of those ids, and nothing else — not even counts of others.

A token is ``pg_`` and 43 random URL-safe characters; the store keeps only its SHA-256, so a
copy of the database gives nobody a working token. (Who a token is, once checked, and the
short cache of look-ups are the API's: ``poagate.api.tokens``.)
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from poagate.domain.ids import parse_network_operator
from poagate.domain.values import value
from poagate.service.acts import checked_text
from poagate.store.ports import TokenIssuing

ROLES = ("admin", "dsp", "dno")
TOKEN_PREFIX = "pg_"  # noqa: S105 - a prefix, not a secret


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def checked_operators(role: str, operators: list[str]) -> list[str]:
    """The network operators a token of ``role`` is bound to: a DNO's needs one or more.
    Raises ``ValueError`` (an unknown role, a bad or missing id)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    canonical = sorted({parse_network_operator(o) for o in operators})
    if role == "dno" and not canonical:
        raise ValueError("a dno token needs at least one network operator id")
    if role != "dno" and canonical:
        raise ValueError(f"a {role} token is not bound to network operators")
    return canonical


@value
class IssuedToken:
    """A token just made: shown to whoever asked for it this once, never again."""

    id: int
    role: str
    network_operators: list[str]
    token: str


def issue_token(
    store: TokenIssuing,
    role: str,
    network_operators: list[str],
    description: str,
    actor: str,
    at: datetime,
) -> IssuedToken:
    """Make a token of ``role`` and store its digest (audited by the store as ``token.create``).
    Raises ``ValueError`` for a role and operators that do not go together."""
    operators = checked_operators(role, network_operators)
    checked_text(description, "the description")
    token = new_token()
    token_id = store.tokens.add(token_sha256(token), role, operators, description, at, actor)
    return IssuedToken(token_id, role, operators, token)
