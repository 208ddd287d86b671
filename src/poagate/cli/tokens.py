"""``poagate token create|revoke|list``: the HTTP API's bearer tokens, in the store."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from poagate.cli.shared import FAILURE, DatabaseOption, actor, err, fail, out, store_errors

token_app = typer.Typer(help="Bearer tokens for the HTTP API.", no_args_is_help=True)


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="admin, dsp or dno.")],
    network_operator: Annotated[
        list[str] | None,
        typer.Option(help="For a dno token: a network operator id it may read (repeatable)."),
    ] = None,
    description: Annotated[str, typer.Option(help="Who or what the token is for.")] = "",
    database: DatabaseOption = None,
) -> None:
    """Create a bearer token; it is printed once, alone on the last line, and stored only as a
    hash."""
    from datetime import UTC, datetime

    from poagate.service.access import checked_operators, issue_token
    from poagate.store.database import open_store

    try:
        checked_operators(role, network_operator or [])  # before the store is opened
    except ValueError as exc:
        fail(str(exc))
    with store_errors(), open_store(database, "service") as store:
        made = issue_token(
            store, role, network_operator or [], description, actor(), datetime.now(UTC)
        )
    operators = made.network_operators
    scope = f", network operators {', '.join(operators)}" if operators else ""
    err.print(
        f"token {made.id}: role {role}{scope}. Keep it: it is not shown again.", highlight=False
    )
    print(made.token)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's number (see token list).")],
    database: DatabaseOption = None,
) -> None:
    """Revoke a token: it stops working within two seconds."""
    from datetime import UTC, datetime

    from poagate.store.database import open_store

    with store_errors(), open_store(database, "service") as store:
        done = store.tokens.revoke(token_id, datetime.now(UTC), actor())
    if not done:
        fail(f"there is no token {token_id} that is still valid", FAILURE)
    out.print(f"token {token_id} revoked", highlight=False)


@token_app.command("list")
def token_list(database: DatabaseOption = None) -> None:
    """List tokens (never the tokens themselves: they are not stored)."""
    from poagate.store.database import open_store

    with store_errors(), open_store(database, "read") as store:
        records = store.tokens.all()
    table = Table(header_style="bold")
    for column in ("id", "role", "network operators", "description", "created", "revoked"):
        table.add_column(column)
    for r in records:
        table.add_row(
            str(r.id),
            r.role,
            ", ".join(sorted(r.network_operators)),
            r.description,
            r.created_at.isoformat(timespec="seconds"),
            "" if r.revoked_at is None else r.revoked_at.isoformat(timespec="seconds"),
        )
    out.print(table)
