"""``poagate db init|status|upgrade``: the only commands that make a store or change its schema
(spec §17, "The store is never made by accident"; spec §16, "Upgrades").

Every other command that uses a store refuses one that does not exist, is not poagate's, or has
another schema revision, and says which of these to run (``store.schema_state``).
"""

from __future__ import annotations

import typer

from poagate.cli.shared import USAGE_ERROR, DatabaseOption, err, out, store_errors

db_app = typer.Typer(
    help="Create a store, say what state it is in, upgrade its schema.", no_args_is_help=True
)


@db_app.command("init")
def db_init(database: DatabaseOption = None) -> None:
    """Create a poagate store at --database (a new SQLite file in an existing folder, or the
    tables in an existing, empty PostgreSQL database). A store already there is left as it is."""
    from poagate.store.database import open_store, store_state

    with store_errors():
        before = store_state(database)
        open_store(database, "service", schema="create").close()
        after = store_state(database)
    if before.usable:
        out.print(
            f"{after.shown}: a poagate store already, revision {after.revision}; unchanged",
            highlight=False,
            soft_wrap=True,
        )
    else:
        out.print(
            f"{after.shown}: created a poagate store at revision {after.revision}",
            highlight=False,
            soft_wrap=True,
        )


@db_app.command("status")
def db_status(database: DatabaseOption = None) -> None:
    """Say what is at --database: its schema revision, this poagate's, and what to do. Exit 0
    when this poagate can use it as it is, 2 when something must be run first (it says what)."""
    from poagate.store.database import store_state
    from poagate.store.schema import SCHEMA_REVISION

    with store_errors():
        state = store_state(database)
    out.print(f"database: {state.shown}", highlight=False)
    out.print(f"state:    {state.kind.replace('_', ' ')}", highlight=False)
    out.print(f"revision: {state.revision or '-'}", highlight=False)
    out.print(f"head:     {SCHEMA_REVISION} (this poagate's)", highlight=False)
    out.print(f"action:   {state.advice()}", highlight=False, soft_wrap=True)
    if not state.usable:
        raise typer.Exit(USAGE_ERROR)


@db_app.command("upgrade")
def db_upgrade(database: DatabaseOption = None) -> None:
    """Migrate the store at --database to this poagate's schema revision. Back it up first.
    Servers of the previous release keep working on the upgraded store while they are replaced
    one by one (docs/operations.md, "Upgrades"); a store already at this revision is left as it
    is."""
    from poagate.store.database import open_store, store_state

    with store_errors():
        before = store_state(database)
        if before.kind == "outdated":
            err.print(
                f"{before.shown}: upgrading from revision {before.revision}",
                highlight=False,
                soft_wrap=True,
            )
        open_store(database, "service", schema="upgrade").close()
        after = store_state(database)
    if before.usable:
        out.print(
            f"{after.shown}: already at revision {after.revision}; unchanged",
            highlight=False,
            soft_wrap=True,
        )
    else:
        out.print(
            f"{after.shown}: upgraded from revision {before.revision} to {after.revision}",
            highlight=False,
            soft_wrap=True,
        )
