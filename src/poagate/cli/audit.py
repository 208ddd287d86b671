"""``poagate audit``: read the audit log (spec §17, "Read what happened") — who changed what,
when, and through which channel (api, console, cli) — newest first, filtered as
``GET /v1/audit`` is."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from poagate.cli.controls import JsonOption, print_json
from poagate.cli.log import parse_time_option
from poagate.cli.shared import DatabaseOption, fail, out, store_errors


def audit(
    actor: Annotated[
        str | None,
        typer.Option(help="Only this actor's acts, as shown (e.g. 'token 3 (admin)')."),
    ] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action (e.g. config.set, token.create).")
    ] = None,
    since: Annotated[str | None, typer.Option("--from", help="At or after this time.")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Before this time.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many.")] = 50,
    oldest_first: Annotated[
        bool, typer.Option("--oldest-first", help="Oldest first (default: newest first).")
    ] = False,
    as_json: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """List the audit log: every operator act, who made it, through which channel and token."""
    from poagate.store.access import AuditFilter
    from poagate.store.database import open_store

    start, end = parse_time_option(since, "--from"), parse_time_option(until, "--to")
    if start is not None and end is not None and end <= start:
        fail("--to must be after --from")
    which = AuditFilter(actor, action, start, end)
    with store_errors(), open_store(database, "read") as store:
        entries = store.audit.entries(0, limit, which, newest_first=not oldest_first)
    if as_json:
        print_json(
            [
                {
                    "seq": e.seq,
                    "at": e.at,
                    "actor": e.actor,
                    "channel": e.channel,
                    "token": e.token_id,
                    "action": e.action,
                    "detail": e.detail,
                }
                for e in entries
            ]
        )
        return
    table = Table(header_style="bold")
    for column in ("seq", "at", "channel", "actor", "action", "detail"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(
            str(e.seq),
            e.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            e.channel or "",
            e.actor,
            e.action,
            _detail(e.detail),
        )
    out.print(table)


def _detail(detail: dict[str, Any]) -> str:
    """A configuration change as ``path: before → after`` lines; anything else as JSON."""
    changes = detail.get("changes")
    if not isinstance(changes, dict):
        return orjson.dumps(detail).decode()
    lines = [
        f"{path}: {_value(c.get('before'))} → {_value(c.get('after'))}"
        for path, c in changes.items()
        if isinstance(c, dict)
    ]
    if detail.get("note"):
        lines.append(f"note: {detail['note']}")
    return "\n".join(lines)


def _value(value: Any) -> str:
    return "(none)" if value is None else orjson.dumps(value).decode()
