"""What a ``--database`` names, found without changing anything there (spec §17: the store is
never made by accident).

``sqlite_state`` and ``postgres_state`` look: is there a store, is it poagate's, which schema
revision has it. ``settle`` says what a command may do with it in its ``SchemaMode``:

* ``use`` (every command but those below): the store must exist at this code's revision (or a
  newer one that says this code still works on it, ``schema.newer_schema_usable``);
* ``create`` (``poagate db init``, and the stores ``replay``, ``simulate`` and ``demo`` make):
  as ``use``, but a store that does not exist yet (or an empty database) is created at the head;
* ``upgrade`` (``poagate db upgrade`` alone): an existing store of an older revision is migrated.

Anything else is refused with ``StoreRefusedError``, whose message says what to run. A SQLite
path is looked at through a read-only SQLite connection (a file that is not a database fails
its first read): no file is created beside a path that is not a poagate store, and no folder
is ever created.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from poagate.store import StoreRefusedError
from poagate.store.schema import MIN_COMPATIBLE_KEY, SCHEMA_REVISION, newer_schema_usable

SchemaMode = Literal["use", "create", "upgrade"]
Kind = Literal[
    "no_folder",  # the folder of a SQLite path does not exist
    "missing",  # nothing at the path (SQLite)
    "empty",  # a database without a table: nobody's yet
    "foreign",  # something that is not a poagate store
    "current",  # a poagate store at this code's revision
    "outdated",  # a poagate store of an older revision: ``poagate db upgrade``
    "newer_usable",  # newer, and it says this code still works on it
    "newer",  # newer, and this code must not use it
]
Action = Literal["open", "create", "migrate"]

USABLE: frozenset[Kind] = frozenset({"current", "newer_usable"})


@dataclass(frozen=True, slots=True)
class StoreState:
    """What is at ``database`` (as the user gave it; a password is never in ``shown``)."""

    kind: Kind
    shown: str  # the database as it may be printed
    revision: str | None = None
    min_compatible: str | None = None
    why: str = ""  # for ``foreign``: what it is instead

    @property
    def usable(self) -> bool:
        return self.kind in USABLE

    def advice(self) -> str:
        """One sentence: what this state means and what to run."""
        db = f"--database {self.shown}"
        head = SCHEMA_REVISION
        match self.kind:
            case "no_folder":
                return (
                    f"{self.shown}: its folder does not exist; poagate creates no folders "
                    f"(check the path, create the folder, then run `poagate db init {db}`)"
                )
            case "missing":
                return f"there is no poagate store at {self.shown}: run `poagate db init {db}`"
            case "empty":
                return f"{self.shown} is an empty database: run `poagate db init {db}`"
            case "foreign":
                return (
                    f"{self.shown} is not a poagate store ({self.why}); poagate leaves it "
                    "alone: check --database / $POAGATE_DATABASE"
                )
            case "outdated":
                return (
                    f"{self.shown} has schema revision {self.revision}, older than this "
                    f"poagate's {head}: back it up, then run `poagate db upgrade {db}`"
                )
            case "newer":
                return (
                    f"{self.shown} has schema revision {self.revision}, newer than this "
                    f"poagate ({head}) and not usable by it: upgrade poagate"
                )
            case "newer_usable":
                return (
                    f"{self.shown} has schema revision {self.revision}, newer than this "
                    f"poagate's {head}, which it says this poagate may still use: nothing to do"
                )
            case _:
                return f"{self.shown} is at revision {head}, this poagate's: nothing to do"


def settle(state: StoreState, mode: SchemaMode) -> Action:
    """What a command in ``mode`` does with the store in ``state``, or ``StoreRefusedError``."""
    if state.usable:
        return "open"
    if mode == "create" and state.kind in ("missing", "empty"):
        return "create"
    if mode == "upgrade" and state.kind == "outdated":
        return "migrate"
    raise StoreRefusedError(state.advice())


def classify(tables: set[str], revision: str | None, min_compatible: str | None) -> Kind:
    """A database's kind from its tables and, when it has them, its recorded revision."""
    if not tables:
        return "empty"
    if not {"alembic_version", "meta"} <= tables or revision is None:
        return "foreign"
    if revision == SCHEMA_REVISION:
        return "current"
    if revision < SCHEMA_REVISION:
        return "outdated"
    return "newer_usable" if newer_schema_usable(revision, min_compatible) else "newer"


def read_only_uri(path: Path) -> str:
    """A SQLite URI that opens ``path`` read-only, whatever characters the path holds."""
    return path.absolute().as_uri() + "?mode=ro"


def sqlite_state(path: Path) -> StoreState:
    """What is at the SQLite path ``path`` (see the module docstring)."""
    shown = str(path)
    if not path.exists():
        parent = path.parent
        return StoreState("missing" if parent.is_dir() else "no_folder", shown)
    if not path.is_file():
        return StoreState("foreign", shown, why="not a regular file")
    if path.stat().st_size == 0:
        return StoreState("empty", shown)
    # Looked at through SQLite alone, read-only: a file that is not a database fails at the
    # first read with nothing made beside it. Never with a file object of Python's own: closing
    # one would drop every POSIX lock this process holds on the file, those of its SQLite
    # connections included (https://www.sqlite.org/howtocorrupt.html, 2.2), and a WAL a server
    # still writes to could be deleted under it by another process.
    try:
        with contextlib.closing(sqlite3.connect(read_only_uri(path), uri=True)) as conn:
            tables = {
                str(row[0])
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            revision = min_compatible = None
            if {"alembic_version", "meta"} <= tables:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = None if row is None else str(row[0])
                row = conn.execute(
                    "SELECT value FROM meta WHERE key = ?", (MIN_COMPATIBLE_KEY,)
                ).fetchone()
                min_compatible = None if row is None else str(row[0])
    except sqlite3.DatabaseError as exc:
        why = "not a SQLite database" if "not a database" in str(exc) else f"unreadable: {exc}"
        return StoreState("foreign", shown, why=why)
    kind = classify(tables, revision, min_compatible)
    why = "a SQLite database of something else" if kind == "foreign" else ""
    return StoreState(kind, shown, revision, min_compatible, why)
