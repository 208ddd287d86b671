"""Persistence: what the gate decided, the reference data in force, and the service's own records.

``store.Store`` holds a database (``sqlbase.Database``: SQLite in ``sqlite.py``, the embedded
default, or PostgreSQL in ``postgres.py``) and the concepts kept in it, each owning its tables:
the Suppression Log and forwarded AD1s (``alerts/``), activations (``activations.py``), signs
of life (``signs.py``), the outbox, verifications, inputs, reference data (``reference/``) and
access (``access.py``). ``ports.py`` has the narrow protocols each consumer is typed against;
``database.open_store`` opens a store from a URL; ``memory.py`` is the decision path in memory.

A unit of work (``unit.py``: ``Store.deciding`` in the service, ``Store.decisions`` in a replay)
is committed in one transaction or not at all, so a crash leaves the store at the end of some
earlier unit, never half-way through one. Tables are in ``schema.py``, migrated by Alembic
(``migrations/``).
"""

from __future__ import annotations


class StoreError(RuntimeError):
    """The store cannot be used: unreachable, locked, or from a newer poagate."""


class StoreRefusedError(StoreError):
    """The store named is not one this command may use as it is: missing, not poagate's, or of
    another schema revision (spec §17). The message says what to run; nothing was created or
    changed."""


class StoreUnavailableError(StoreError):
    """The database cannot be reached or is too busy now; trying again later may succeed."""


class StoreValueError(ValueError):
    """A value the database cannot hold (PostgreSQL: a NUL character in text, a JSON text
    escape it refuses): the statement, and the transaction it was part of, kept nothing. It
    is the caller's input, so trying again does not help; the edges refuse such values first
    (``api/edge.py``), this is the backstop."""


class NotVisible(LookupError):  # noqa: N818 - a lookup that found nothing the caller may see
    """A listing's cursor names no item the caller may see (whether or not it exists)."""
