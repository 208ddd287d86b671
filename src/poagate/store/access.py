"""Access: who may call the service, who is signed in to the console, and what was changed by
whom.

* ``Tokens`` — bearer tokens, stored only as their SHA-256 (``api_tokens``);
* ``ConsoleSessions`` — the console's sessions (spec §13, ``console_sessions``), kept in the
  store so that every server process on one database knows every session. A session id is a
  random secret held by the browser's cookie; the store keeps only its SHA-256, as it does
  tokens. Each session names the token it was started with: the console re-checks that token
  on every page (``poagate.api.auth``), so a revoked token ends its sessions;
* ``Audit`` — the audit log (``audit_log``). Every change elsewhere records its audit entry in
  the transaction that makes it, through ``Audit.record``, with the channel and the token of
  its actor when the actor is a ``poagate.domain.actors.Actor`` (spec §17). Read newest or
  oldest first, by actor, action and time (``AuditFilter``).

The audit log ages by ``at`` and sessions by ``last_seen_at``; a token is kept while it may be
used (``TABLES``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from poagate.domain.actors import Actor
from poagate.domain.values import value
from poagate.formats.timestamps import from_us, to_us
from poagate.store.purge import Purge
from poagate.store.sqlbase import Database, Kept

TABLES = (
    Kept("api_tokens", None),
    Kept("console_sessions", "last_seen_at"),
    Kept("audit_log", "at"),
)

_SELECT_TOKENS = "SELECT id, role, network_operators, description, created_at, revoked_at "
_FROM_TOKENS = _SELECT_TOKENS + "FROM api_tokens"
_AUDIT = "SELECT seq, at, actor, action, detail, channel, token_id FROM audit_log"


@value
class TokenRecord:
    """A bearer token's grant (the token itself is never stored, only its SHA-256)."""

    id: int
    role: str  # admin, dsp or dno
    network_operators: frozenset[str]
    description: str
    created_at: datetime
    revoked_at: datetime | None


@value
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]
    channel: str | None = None  # api, console, cli; None for an entry recorded before 0008
    token_id: int | None = None  # the token the act was made with (none from the command line)


@value
class AuditFilter:
    """Which audit entries to read: by actor (as shown, e.g. ``token 3 (admin)``), action
    (``config.set``), and time (``since`` inclusive, ``until`` exclusive)."""

    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@value
class SessionRecord:
    token_id: int
    token_sha256: str  # the token's SHA-256 (api_tokens), for the API's own token look-up
    csrf_secret: str
    created_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None


class Audit:
    """The audit log: who changed what, when."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, at: datetime, actor: str, action: str, detail: dict[str, Any]) -> None:
        """Record a change (inside the transaction that makes it)."""
        channel = actor.channel if isinstance(actor, Actor) else None
        token_id = actor.token_id if isinstance(actor, Actor) else None
        with self._db.transaction():
            self._db.run(
                "INSERT INTO audit_log (at, actor, action, detail, channel, token_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (to_us(at), str(actor), action, orjson.dumps(detail).decode(), channel, token_id),
            )

    def entries(
        self,
        after_seq: int = 0,
        limit: int = 100,
        which: AuditFilter | None = None,
        *,
        newest_first: bool = False,
    ) -> list[AuditEntry]:
        """A page of the entries ``which`` selects, oldest or newest first; ``after_seq`` is the
        last entry of the page before (0: from the start), in the order asked."""
        which = which or AuditFilter()
        where: list[str] = ["1 = 1"]
        params: list[object] = []
        if after_seq:
            where.append("seq < ?" if newest_first else "seq > ?")
            params.append(after_seq)
        for column, wanted in (("actor", which.actor), ("action", which.action)):
            if wanted is not None:
                where.append(f"{column} = ?")
                params.append(wanted)
        if which.since is not None:
            where.append("at >= ?")
            params.append(to_us(which.since))
        if which.until is not None:
            where.append("at < ?")
            params.append(to_us(which.until))
        order = "DESC" if newest_first else ""
        sql = f"{_AUDIT} WHERE {' AND '.join(where)} ORDER BY seq {order} LIMIT {int(limit)}"
        return [_audit_entry(row) for row in self._db.fetch(sql, tuple(params))]

    def last_act(self, actions: Sequence[str]) -> AuditEntry | None:
        """The latest entry of one of ``actions`` (e.g. the last suspend or resume)."""
        db = self._db
        row = db.one(
            f"{_AUDIT} WHERE {{in:action}} ORDER BY seq DESC LIMIT 1",
            (db.list_param(list(actions)),),
        )
        return None if row is None else _audit_entry(row)


class ConsoleSessions:
    """Sessions: started at sign-in, read on every page, touched, ended at sign-out."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def start(self, id_sha256: str, token_id: int, csrf_secret: str, at: datetime) -> None:
        with self._db.transaction():
            self._db.run(
                "INSERT INTO console_sessions (id_sha256, token_id, csrf_secret, created_at, "
                "last_seen_at) VALUES (?, ?, ?, ?, ?)",
                (id_sha256, token_id, csrf_secret, to_us(at), to_us(at)),
            )

    def get(self, id_sha256: str) -> SessionRecord | None:
        row = self._db.one(
            "SELECT s.token_id, t.token_sha256, s.csrf_secret, s.created_at, s.last_seen_at, "
            "s.ended_at FROM console_sessions s JOIN api_tokens t ON t.id = s.token_id "
            "WHERE s.id_sha256 = ?",
            (id_sha256,),
        )
        return None if row is None else _session(row)

    def touch(self, id_sha256: str, at: datetime) -> None:
        """Mark the session used at ``at`` (the console does so at most once a minute)."""
        with self._db.transaction():
            self._db.run(
                "UPDATE console_sessions SET last_seen_at = ? "
                "WHERE id_sha256 = ? AND ended_at IS NULL AND last_seen_at < ?",
                (to_us(at), id_sha256, to_us(at)),
            )

    def purge(self, ended_before: int, idle_before: int, dry_run: bool = False) -> int:
        """Delete (or count) the sessions ended before ``ended_before`` or last used before
        ``idle_before`` (microseconds; spec §15: ended sessions are kept a day)."""
        db = self._db
        where = "WHERE ended_at < ? OR last_seen_at < ?"
        params = (ended_before, idle_before)
        with db.transaction():
            found = int(db.scalar(f"SELECT COUNT(*) FROM console_sessions {where}", params))
            if found and not dry_run:
                db.run(f"DELETE FROM console_sessions {where}", params)
        return found

    def end(self, id_sha256: str, at: datetime) -> bool:
        """End the session (sign-out); False when it had ended already or never was."""
        with self._db.transaction():
            found = self._db.scalar(
                "SELECT token_id FROM console_sessions WHERE id_sha256 = ? AND ended_at IS NULL",
                (id_sha256,),
            )
            if found is None:
                return False
            self._db.run(
                "UPDATE console_sessions SET ended_at = ? WHERE id_sha256 = ?",
                (to_us(at), id_sha256),
            )
        return True


class Tokens:
    """Bearer tokens: created, looked up by their SHA-256, revoked — each change audited."""

    def __init__(self, db: Database, audit: Audit) -> None:
        self._db = db
        self._audit = audit

    def add(
        self,
        token_sha256: str,
        role: str,
        network_operators: Sequence[str],
        description: str,
        at: datetime,
        actor: str,
    ) -> int:
        db = self._db
        with db.transaction():
            db.run(
                "INSERT INTO api_tokens (token_sha256, role, network_operators, description, "
                "created_at) VALUES (?, ?, ?, ?, ?)",
                (token_sha256, role, ",".join(network_operators), description, to_us(at)),
            )
            token_id = int(
                db.scalar("SELECT id FROM api_tokens WHERE token_sha256 = ?", (token_sha256,))
            )
            self._audit.record(
                at,
                actor,
                "token.create",
                {
                    "token": token_id,
                    "role": role,
                    "network_operators": list(network_operators),
                    "description": description,
                },
            )
        return token_id

    def get(self, token_sha256: str) -> TokenRecord | None:
        row = self._db.one(f"{_FROM_TOKENS} WHERE token_sha256 = ?", (token_sha256,))
        return None if row is None else _token(row)

    def all(self) -> list[TokenRecord]:
        return [_token(row) for row in self._db.fetch(f"{_FROM_TOKENS} ORDER BY id")]

    def revoke(self, token_id: int, at: datetime, actor: str) -> bool:
        db = self._db
        with db.transaction():
            found = db.scalar(
                "SELECT id FROM api_tokens WHERE id = ? AND revoked_at IS NULL", (token_id,)
            )
            if found is None:
                return False
            db.run("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", (to_us(at), token_id))
            self._audit.record(at, actor, "token.revoke", {"token": token_id})
        return True


def _token(row: tuple[Any, ...]) -> TokenRecord:
    return TokenRecord(
        id=row[0],
        role=row[1],
        network_operators=frozenset(filter(None, row[2].split(","))),
        description=row[3],
        created_at=from_us(row[4]),
        revoked_at=None if row[5] is None else from_us(row[5]),
    )


def _audit_entry(row: tuple[Any, ...]) -> AuditEntry:
    return AuditEntry(row[0], from_us(row[1]), row[2], row[3], orjson.loads(row[4]), row[5], row[6])


def _session(row: tuple[Any, ...]) -> SessionRecord:
    return SessionRecord(
        token_id=row[0],
        token_sha256=row[1],
        csrf_secret=row[2],
        created_at=from_us(row[3]),
        last_seen_at=from_us(row[4]),
        ended_at=None if row[5] is None else from_us(row[5]),
    )


def purges() -> tuple[Purge, ...]:
    """What retention purges of the audit log (spec §15): entries older than its retention.
    Tokens are never purged: a handful of rows, which audit entries and sessions name."""
    return (Purge("audit", "audit_log", "seq", "at"),)
