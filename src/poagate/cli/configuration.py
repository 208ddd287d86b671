"""``poagate config show|patch``: the configuration in force, and changing some of it (spec §17).

``patch`` is the act behind ``PATCH /v1/config`` (``service.configuration.patch_configuration``),
on the store directly as the other operator commands are: a JSON Merge Patch (RFC 7396) that
changes only the keys it names, read as strictly as the API reads it, audited as the change
with the actor ``command line (<user>)`` and the channel cli.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from poagate.cli.controls import Note, now, print_json
from poagate.cli.shared import DatabaseOption, actor, fail, out, readable_file, store_errors

config_app = typer.Typer(help="Show and change the configuration in force.", no_args_is_help=True)


@config_app.command("show")
def config_show(database: DatabaseOption = None) -> None:
    """Print the configuration in force as JSON, as GET /v1/config shows it: no secret (only
    whether one is set) and *** for a webhook URL's password."""
    from poagate.store.database import open_store

    with store_errors(), open_store(database, "read") as store:
        shown = store.reference.settings().masked()
    print_json(shown)


@config_app.command("patch")
def config_patch(
    file: Annotated[
        str, typer.Argument(help="A JSON Merge Patch (RFC 7396) file, or - for standard input.")
    ],
    note: Note = None,
    database: DatabaseOption = None,
) -> None:
    """Change the settings FILE names and keep the others: null removes a key (a setting goes
    back to its default, a webhook is removed). Example: {"delivery": {"webhooks": {"13":
    {"url": "https://dno13.example/poa", "secret": "whsec_..."}}}}."""
    from poagate.service.configuration import ConfigurationError, patch_configuration
    from poagate.store.database import open_store

    if file == "-":
        source, text = "standard input", sys.stdin.buffer.read()
    else:
        source, text = file, readable_file(Path(file), "patch").read_bytes()
    try:
        patch = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        fail(f"{source} is not JSON: {exc}")
    try:
        with store_errors(), open_store(database, "service") as store:
            done = patch_configuration(store, patch, actor(), now(), note)
    except ConfigurationError as exc:
        fail("the configuration was not changed: " + "; ".join(_problem(p) for p in exc.problems))
    except ValueError as exc:
        fail(str(exc))
    if not done.changed:
        out.print("nothing changed: the configuration in force is already so", highlight=False)
        return
    for path, change in done.changes.items():
        out.print(
            f"{path}: {_shown(change['before'])} → {_shown(change['after'])}", highlight=False
        )


def _problem(problem: tuple[str, str]) -> str:
    where, why = problem
    return f"{where}: {why}" if where else why


def _shown(value: Any) -> str:
    return "(none)" if value is None else orjson.dumps(value).decode()
