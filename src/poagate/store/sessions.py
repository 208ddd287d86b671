"""The console's sessions (spec §13): who is signed in to the web pages, kept in the store so
that every server process on one database knows every session.

A session id is a random secret held by the browser's cookie; the store keeps only its SHA-256,
as it does tokens. Each session names the token it was started with: the console re-checks that
token on every page (``poagate.api.auth``), so a revoked token ends its sessions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from poagate.domain.values import value
from poagate.formats.timestamps import from_us, to_us
from poagate.store.sqlbase import Database


@value
class SessionRecord:
    token_id: int
    token_sha256: str  # the token's SHA-256 (api_tokens), for the API's own token look-up
    csrf_secret: str
    created_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None


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


def _session(row: tuple[Any, ...]) -> SessionRecord:
    return SessionRecord(
        token_id=row[0],
        token_sha256=row[1],
        csrf_secret=row[2],
        created_at=from_us(row[3]),
        last_seen_at=from_us(row[4]),
        ended_at=None if row[5] is None else from_us(row[5]),
    )
