"""Rolling upgrades: code runs on a schema newer than its own when that schema says it may
(``store.schema.newer_schema_usable``), and refuses it otherwise."""

from __future__ import annotations

import pytest

from poagate.store import StoreError
from poagate.store.database import open_store
from poagate.store.schema import MIN_COMPATIBLE_KEY, SCHEMA_REVISION, newer_schema_usable


def _newer(revision: str) -> str:
    return f"{int(revision) + 1:04d}"


def test_a_newer_schema_is_usable_only_when_it_names_this_revision_compatible() -> None:
    newer = _newer(SCHEMA_REVISION)
    assert newer_schema_usable(newer, SCHEMA_REVISION)
    assert newer_schema_usable(newer, "0001")
    assert not newer_schema_usable(newer, newer)  # a migration that removed something
    assert not newer_schema_usable(newer, None)  # a schema that says nothing
    assert not newer_schema_usable(SCHEMA_REVISION, SCHEMA_REVISION)  # not newer


def _stamp(database: str, revision: str, min_compatible: str | None) -> None:
    with open_store(database, "service", schema="create") as store:
        db = store.db
        with db.transaction():
            db.run("UPDATE alembic_version SET version_num = ?", (revision,))
            db.run("DELETE FROM meta WHERE key = ?", (MIN_COMPATIBLE_KEY,))  # a migration's
            if min_compatible is not None:
                db.run(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    (MIN_COMPATIBLE_KEY, min_compatible),
                )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_store_one_additive_revision_ahead_opens_and_one_that_removed_refuses(
    backend: str, request: pytest.FixtureRequest, tmp_path: object
) -> None:
    def fresh(name: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path}/{name}.db"
        server = request.getfixturevalue("postgres")
        return str(server.fresh_database())

    newer = _newer(SCHEMA_REVISION)
    additive = fresh("additive")
    _stamp(additive, newer, SCHEMA_REVISION)
    with open_store(additive, "service") as store:  # opens, and leaves the schema alone
        assert store.meta(MIN_COMPATIBLE_KEY) == SCHEMA_REVISION
        assert store.db.scalar("SELECT version_num FROM alembic_version") == newer

    removing = fresh("removing")
    _stamp(removing, newer, newer)
    with pytest.raises(StoreError, match="newer than this poagate"):
        open_store(removing, "service")
