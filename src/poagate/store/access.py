"""Who may call the service, and what was changed by whom: bearer tokens (stored only as their
SHA-256) and the audit log. Every change elsewhere records its audit entry in its own
transaction through ``Audit.record``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from poagate.formats.timestamps import from_us, to_us
from poagate.store.records import AuditEntry, TokenRecord
from poagate.store.sqlbase import Database

_SELECT_TOKENS = "SELECT id, role, network_operators, description, created_at, revoked_at "
_FROM_TOKENS = _SELECT_TOKENS + "FROM api_tokens"


class Audit:
    """The audit log: who changed what, when."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, at: datetime, actor: str, action: str, detail: dict[str, Any]) -> None:
        """Record a change (inside the transaction that makes it)."""
        with self._db.transaction():
            self._db.run(
                "INSERT INTO audit_log (at, actor, action, detail) VALUES (?, ?, ?, ?)",
                (to_us(at), actor, action, orjson.dumps(detail).decode()),
            )

    def entries(self, after_seq: int = 0, limit: int = 100) -> list[AuditEntry]:
        return [
            AuditEntry(row[0], from_us(row[1]), row[2], row[3], orjson.loads(row[4]))
            for row in self._db.fetch(
                "SELECT seq, at, actor, action, detail FROM audit_log WHERE seq > ? "
                f"ORDER BY seq LIMIT {int(limit)}",
                (after_seq,),
            )
        ]


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
