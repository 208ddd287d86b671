"""The audit log's reader (spec §17, "Read what happened") on each backend: by actor, action and
time, oldest or newest first, a page after another in the order asked, and each entry's channel
and token as recorded."""

from __future__ import annotations

from datetime import timedelta

from poagate.domain.actors import command_line_actor, token_actor
from poagate.store.access import AuditFilter
from poagate.store.database import open_store
from tests.helpers import ts

T0 = ts("2026-03-01T10:00:00Z")


def test_the_audit_log_reads_by_actor_action_and_time_in_either_order(database: str) -> None:
    api, console, cli = (
        token_actor(4, "admin", "api"),
        token_actor(4, "admin", "console"),
        command_line_actor("alice"),
    )
    acts = [(api, "config.set"), (console, "window.end"), (cli, "config.set"), (api, "x.y")]
    with open_store(database, "service") as store:
        with store.db.transaction():
            for minutes, (actor, action) in enumerate(acts):
                store.audit.record(T0 + timedelta(minutes=minutes), actor, action, {"n": minutes})
        every = store.audit.entries(0, 100)
        assert [(e.channel, e.token_id, e.detail["n"]) for e in every] == [
            ("api", 4, 0), ("console", 4, 1), ("cli", None, 2), ("api", 4, 3)
        ]  # fmt: skip
        newest = store.audit.entries(0, 100, newest_first=True)
        assert newest == every[::-1]
        first_page = store.audit.entries(0, 2, newest_first=True)
        assert store.audit.entries(first_page[-1].seq, 2, newest_first=True) == every[1::-1]

        def ns(which: AuditFilter) -> list[int]:
            return [e.detail["n"] for e in store.audit.entries(0, 100, which)]

        assert ns(AuditFilter(actor="token 4 (admin)")) == [0, 1, 3]
        assert ns(AuditFilter(actor="command line (alice)", action="config.set")) == [2]
        assert ns(AuditFilter(action="config.set")) == [0, 2]
        since, until = T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)
        assert ns(AuditFilter(since=since, until=until)) == [1, 2]
        assert ns(AuditFilter(actor="nobody")) == []
