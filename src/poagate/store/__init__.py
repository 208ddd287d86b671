"""Persistence: what the gate decided, the reference data in force, and the service's own records.

``store.Store`` holds a database (``sqlbase.Database``: SQLite in ``sqlite.py``, the embedded
default, or PostgreSQL in ``postgres.py``) and the concepts kept in it, one module each;
``ports.py`` has the narrow protocols each consumer is typed against; ``database.open_store``
opens one from a URL. A ``batch.Batch`` is one unit of work: everything in it is committed in
one transaction or not at all, so a crash leaves the store at the end of some earlier batch,
never half-way through one. Tables are in ``schema.py``, migrated by Alembic (``migrations/``).
"""

from __future__ import annotations


class StoreError(RuntimeError):
    """The store cannot be used: unreachable, locked, or from a newer poagate."""


class StoreUnavailableError(StoreError):
    """The database cannot be reached or is too busy now; trying again later may succeed."""
