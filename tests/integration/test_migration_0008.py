"""Revision 0008 (spec §17, audit channel) on each backend: it goes up over an audit log written
before it (the command line's entries get the channel cli, the others none), keeps the oldest
compatible revision at 0007 (it is additive), records the channel and token of new entries, and
goes down and up again."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from poagate.domain.actors import token_actor
from poagate.store.access import AuditFilter
from poagate.store.database import open_store
from poagate.store.migrate import alembic_config
from poagate.store.schema import MIN_COMPATIBLE_KEY
from tests.helpers import ts
from tests.integration.test_migration_0004 import AT, columns, sqlalchemy_url


def test_revision_0008_names_channels_and_tokens_and_goes_down_and_up_again(
    database: str,
) -> None:
    url = sqlalchemy_url(database)
    config = alembic_config(url)
    open_store(database, "service").close()  # at the head
    command.downgrade(config, "0007")
    engine = sa.create_engine(url)
    try:
        assert "channel" not in columns(engine, "audit_log")
        with engine.begin() as conn:  # entries as 0007 wrote them
            conn.execute(sa.text("DELETE FROM meta WHERE key = :k"), {"k": MIN_COMPATIBLE_KEY})
            for actor in ("command line (alice)", "token 1 (admin)"):
                conn.execute(
                    sa.text(
                        "INSERT INTO audit_log (at, actor, action, detail) "
                        "VALUES (:at, :actor, 'token.revoke', '{}')"
                    ),
                    {"at": AT, "actor": actor},
                )
        command.upgrade(config, "head")
        assert {"channel", "token_id"} <= columns(engine, "audit_log")
        with open_store(database, "service") as store:
            assert store.meta(MIN_COMPATIBLE_KEY) == "0007"
            old = store.audit.entries(0, 10)
            assert [(e.actor, e.channel, e.token_id) for e in old] == [
                ("command line (alice)", "cli", None),
                ("token 1 (admin)", None, None),
            ]
            with store.db.transaction():
                store.audit.record(
                    ts("2026-03-01T11:00:00Z"), token_actor(7, "admin", "console"), "x.y", {}
                )
            (new,) = store.audit.entries(0, 10, AuditFilter(action="x.y"))
            assert (new.actor, new.channel, new.token_id) == ("token 7 (admin)", "console", 7)
        command.downgrade(config, "0007")
        assert "channel" not in columns(engine, "audit_log")
        command.upgrade(config, "head")
    finally:
        engine.dispose()
