"""The configuration in force (spec §3, §12): every version of it, who set it and when
(``config_versions``), read by every decision in its own transaction.

A version is a complete body: the gate's fields (``Config``) and the service's own settings
(webhooks, secrets) together, so a decision reads them in one statement. Versions are kept as
a history (``TABLES``: aged by ``set_at``, the one in force always kept).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from poagate.domain.reference import (
    DEFAULT_AREA_OUTAGE_SECONDS,
    DEFAULT_VERIFY_ATTEMPTS,
    DEFAULT_VERIFY_TIMEOUT_MINUTES,
    Config,
)
from poagate.formats.timestamps import to_us
from poagate.store.sqlbase import Database, Kept

TABLES = (Kept("config_versions", "set_at"),)


def encode_config(config: Config) -> str:
    return orjson.dumps(
        {
            "manufacturers": list(config.manufacturers),
            "window_minutes": config.window_minutes,
            "skew_tolerance_seconds": config.skew_tolerance_seconds,
            "release_after_minutes": config.release_after_minutes,
            "area_outage_threshold": config.area_outage_threshold,
            "area_outage_seconds": config.area_outage_seconds,
            "suppression_enabled": config.suppression_enabled,
            "verify_after_minutes": config.verify_after_minutes,
            "verify_timeout_minutes": config.verify_timeout_minutes,
            "verify_attempts": config.verify_attempts,
        }
    ).decode()


def config_of(data: dict[str, Any]) -> Config:
    """The gate's configuration from stored settings (the defaults when there are none)."""
    if not data:
        return Config()
    return Config(
        manufacturers=tuple(data["manufacturers"]),
        window_minutes=data["window_minutes"],
        skew_tolerance_seconds=data["skew_tolerance_seconds"],
        # Stores written before the guards existed hold no guard settings: off.
        release_after_minutes=data.get("release_after_minutes"),
        area_outage_threshold=data.get("area_outage_threshold"),
        area_outage_seconds=data.get("area_outage_seconds", DEFAULT_AREA_OUTAGE_SECONDS),
        # spec §12; stores written before the incident controls existed were never suspended.
        suppression_enabled=data.get("suppression_enabled", True),
        # Nor, before spec §14, the verification guard's.
        verify_after_minutes=data.get("verify_after_minutes"),
        verify_timeout_minutes=data.get("verify_timeout_minutes", DEFAULT_VERIFY_TIMEOUT_MINUTES),
        verify_attempts=data.get("verify_attempts", DEFAULT_VERIFY_ATTEMPTS),
    )


class Configuration:
    """The configuration's versions (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def settings(self) -> dict[str, Any]:
        """The configuration in force as stored (the gate's fields and the service's)."""
        body = self._db.scalar("SELECT body FROM config_versions ORDER BY id DESC LIMIT 1")
        return {} if body is None else dict(orjson.loads(body))

    def config(self) -> Config:
        return config_of(self.settings())

    def save_settings(self, settings: dict[str, Any], actor: str, at: datetime) -> bool:
        """Record ``settings`` (a complete configuration body) as in force from ``at``."""
        body = orjson.dumps(settings, option=orjson.OPT_SORT_KEYS).decode()
        db = self._db
        with db.transaction():
            current = db.scalar("SELECT body FROM config_versions ORDER BY id DESC LIMIT 1")
            if current is not None and orjson.loads(current) == settings:
                return False
            db.run(
                "INSERT INTO config_versions (set_at, actor, body) VALUES (?, ?, ?)",
                (to_us(at), actor, body),
            )
        return True

    def save_config(self, config: Config, actor: str, at: datetime) -> bool:
        """Record the gate's configuration, keeping the service's settings as they are."""
        current = self.settings()
        if not current and config == Config():
            return False  # the defaults are in force without a record
        return self.save_settings({**current, **orjson.loads(encode_config(config))}, actor, at)
