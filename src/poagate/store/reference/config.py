"""The configuration in force (spec §3, §12): every version of it, who set it and when
(``config_versions``), read by every group of decisions (ahead of the writers' lock, confirmed
under it: ``poagate.store.marks``).

A version is the whole configuration (``formats.settings.Settings``): the gate's fields and the
service's own (webhooks, secrets) together, so a decision reads them in one statement, and the
last one read is kept, validated, until another is recorded. Versions are kept as a history
(``TABLES``: aged by ``set_at``, the one in force always kept).
"""

from __future__ import annotations

from datetime import datetime

import orjson

from poagate.domain.reference import Config
from poagate.formats.settings import Settings
from poagate.formats.timestamps import to_us
from poagate.store.sqlbase import Database, Kept

TABLES = (Kept("config_versions", "set_at"),)


class Configuration:
    """The configuration's versions (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # The configuration last read, by its stored text: every group of decisions reads the
        # configuration, and it changes seldom, so it is validated once per version.
        self._read: tuple[str | None, Settings, Config] | None = None

    def settings(self) -> Settings:
        """The configuration in force (the defaults while none was ever recorded)."""
        return self._in_force()[0]

    def config(self) -> Config:
        """The gate's part of the configuration in force."""
        return self._in_force()[1]

    def _in_force(self) -> tuple[Settings, Config]:
        body = self._db.scalar("SELECT body FROM config_versions ORDER BY id DESC LIMIT 1")
        read = self._read
        if read is None or read[0] != body:
            settings = Settings.stored({} if body is None else orjson.loads(body))
            read = self._read = (body, settings, settings.gate_config())
        return read[1], read[2]

    def save_settings(self, settings: Settings, actor: str, at: datetime) -> bool:
        """Record ``settings`` as in force from ``at``; False (nothing recorded) when they are
        the settings in force already (the defaults, while none was ever recorded)."""
        db = self._db
        with db.transaction():
            if self.settings() == settings:
                return False
            body = orjson.dumps(settings.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
            db.run(
                "INSERT INTO config_versions (set_at, actor, body) VALUES (?, ?, ?)",
                (to_us(at), actor, body.decode()),
            )
        return True

    def save_config(self, config: Config, actor: str, at: datetime) -> bool:
        """Record the gate's configuration, keeping the other settings as they are."""
        return self.save_settings(self.settings().with_gate(config), actor, at)

    def purge_settings_versions(self, keep: int, dry_run: bool = False) -> int:
        """Delete (or count) the configuration's versions but the one in force and the ``keep``
        before it (spec §15, ``reference_versions``)."""
        db = self._db
        older = (
            "FROM config_versions WHERE id < (SELECT id FROM config_versions "
            "ORDER BY id DESC LIMIT 1 OFFSET ?)"
        )
        with db.transaction():
            found = int(db.scalar(f"SELECT COUNT(*) {older}", (keep,)))
            if found and not dry_run:
                db.run(f"DELETE {older}", (keep,))
        return found
