"""The store is cut by concept: every table of the schema is owned by exactly one of the
store's concepts (``poagate.store.store.TABLES``), each naming the column its rows age by —
what a retention of that concept purges by."""

from __future__ import annotations

from poagate.store.schema import metadata
from poagate.store.store import TABLES


def test_every_table_has_exactly_one_owner() -> None:
    owned = [kept.table for kept in TABLES]
    assert len(owned) == len(set(owned)), "a table is claimed by two concepts"
    assert set(owned) == set(metadata.tables) - {"meta"}  # meta is the database's own


def test_each_table_ages_by_a_time_column_of_its_own() -> None:
    for kept in TABLES:
        if kept.aged_by is not None:
            column = metadata.tables[kept.table].c[kept.aged_by]
            assert column.type.python_type is int, f"{kept.table}.{kept.aged_by} is no timestamp"
