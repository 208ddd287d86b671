"""What every backend gives the store's concepts: a connection, transactions, and statements
written once for SQLite and PostgreSQL.

Statements are written with ``?`` placeholders and ``{in:column}`` for "column is one of a
list", which each backend renders in its own form (``IN (SELECT value FROM json_each(?))`` on
SQLite, ``= ANY(%s)`` on PostgreSQL) so that a statement keeps one cached plan whatever the
list's length.

Writers are serialised: SQLite by ``BEGIN IMMEDIATE``, PostgreSQL by one transaction-scoped
advisory lock. Every transaction that decides therefore sees all earlier decisions, numbers
AD1 outcomes (``seq``) in commit order, and a reader paging by ``seq`` never skips a row that
commits late.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Literal

from poagate.formats.timestamps import EPOCH
from poagate.store import writer_lock

Dialect = Literal["sqlite", "postgresql"]
# CPython's sqlite3 binds None through its adapter protocol at about 1 µs a value, more than the
# rest of a row costs, so rows carry these where a value is NULL and statements turn them back
# into NULL (``values_clause``, ``Insert``).
NULL_INT = -1  # bound instead of None and turned back into NULL by NULLIF(?, -1)
NULL_TEXT = ""  # the same for text columns: NULLIF(?, '')
_IN = re.compile(r"\{in:([a-z_.]+)\}")

UPSERT_META = (
    "INSERT INTO meta (key, value) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


def opt_from_us(us: int | None) -> datetime | None:
    """A nullable timestamp column (microseconds since the epoch) as a datetime."""
    return None if us is None else EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True, slots=True)
class Kept:
    """A table a concept of the store owns, and the time column its rows age by: what a
    retention of that concept purges by (None: rows that are kept while they are in force,
    such as reference data, or that hold no time yet)."""

    table: str
    aged_by: str | None


def render_lists(sql: str, form: str) -> str:
    """Replace each ``{in:column}`` with ``form`` (a format with ``{column}``)."""
    return _IN.sub(lambda m: form.format(column=m.group(1)), sql)


def values_clause(
    columns: Sequence[str], nullable_int: Iterable[str] = (), nullable_text: Iterable[str] = ()
) -> str:
    """``?`` for each column; nullable ones turn their sentinel back into NULL (``NULLIF``)."""
    ints, texts = set(nullable_int), set(nullable_text)
    return ",".join(
        f"NULLIF(?, {NULL_INT})" if c in ints else "NULLIF(?, '')" if c in texts else "?"
        for c in columns
    )


@dataclass(frozen=True)
class Insert:
    """An insert-only statement. Rows carry ``NULL_INT``/``NULL_TEXT`` where a value is NULL
    (cheap to bind on SQLite), turned into NULL by NULLIF — or, for PostgreSQL's COPY, by
    replacing the sentinels at ``nulls``; both are worked out once."""

    table: str
    columns: tuple[str, ...]
    nullable_int: frozenset[str] = frozenset()
    nullable_text: frozenset[str] = frozenset()

    @cached_property
    def sql(self) -> str:
        values = values_clause(self.columns, self.nullable_int, self.nullable_text)
        return f"INSERT INTO {self.table} ({','.join(self.columns)}) VALUES ({values})"

    @cached_property
    def nulls(self) -> tuple[tuple[int, Any], ...]:
        return tuple(
            (i, NULL_INT if c in self.nullable_int else NULL_TEXT)
            for i, c in enumerate(self.columns)
            if c in self.nullable_int or c in self.nullable_text
        )


class Database(ABC):
    """A connection to one store, and the few primitives the concepts build on."""

    dialect: Dialect
    _depth: int = 0  # how many transaction() blocks are open (nested ones join the outer)

    # -- what a backend supplies --------------------------------------------------------------

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the store is, safe to print (no password)."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def _outermost(self) -> AbstractContextManager[None]:
        """Begin, and commit or roll back, one write transaction, serialised with every other
        writer."""

    @abstractmethod
    def _render(self, sql: str) -> str:
        """The statement in this backend's placeholder and list form (cached)."""

    @abstractmethod
    def list_param(self, values: Sequence[Any]) -> Any:
        """The one parameter that stands for a ``{in:column}`` list."""

    @abstractmethod
    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]: ...

    @abstractmethod
    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; the rows it changed (an INSERT, UPDATE or DELETE)."""

    @abstractmethod
    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def insert(self, insert: Insert, rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows (a backend may have a faster path than a statement a row)."""
        if rows:
            self.run_many(insert.sql, rows)

    @abstractmethod
    def size_bytes(self) -> int:
        """How much disk the store takes (spec §15's metric)."""

    def give_back_space(self) -> int:
        """Return the space of purged rows to the file system where the backend does not by
        itself; how many pages were free (0 when nothing is done)."""
        return 0

    @abstractmethod
    def writes_seen(self) -> int:
        """A number that changes when another connection writes to the store (PostgreSQL's
        changes with this connection's writes too, and with other databases' of its cluster):
        a maintenance pass reads it after its step and after its rest, and yields to decisions
        when it changed between (``store.pacing``)."""

    def limit_cache(self, mebibytes: int) -> None:  # noqa: B027 - a no-op unless overridden
        """Shrink this connection's cache when another process does the writing (if any)."""

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction; a ``transaction()`` inside another joins it (re-entrant)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        began = time.perf_counter()
        locked = 0.0
        try:
            with self._outermost():  # the writers' lock is taken when it yields
                locked = time.perf_counter()
                self._depth = 1
                try:
                    yield
                finally:
                    self._depth = 0
        finally:
            if locked:  # not when the lock was never taken (busy, unreachable)
                writer_lock.observe(locked - began, time.perf_counter() - locked)

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    # -- helpers ------------------------------------------------------------------------------

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self.fetch(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else row[0]

    def meta(self, key: str) -> str | None:
        value = self.scalar("SELECT value FROM meta WHERE key = ?", (key,))
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.run(UPSERT_META, (key, value))
