"""spec §17: what each command may do with what is at its ``--database``: only ``db init`` (and
a replay's own store) creates, only ``db upgrade`` migrates, everything else uses a store at
this revision (or a newer one that allows it) or is refused saying what to run."""

from __future__ import annotations

import re

import pytest

from poagate.store import StoreRefusedError
from poagate.store.schema import SCHEMA_REVISION
from poagate.store.schema_state import Kind, SchemaMode, StoreState, classify, settle

OLDER = f"{int(SCHEMA_REVISION) - 1:04d}"
NEWER = f"{int(SCHEMA_REVISION) + 1:04d}"
POAGATE = {"alembic_version", "meta", "ad1_outcomes"}


def test_a_database_is_classified_by_its_tables_and_revision() -> None:
    assert classify(set(), None, None) == "empty"
    assert classify({"accounts"}, None, None) == "foreign"
    assert classify({"alembic_version", "accounts"}, None, None) == "foreign"  # not poagate's
    assert classify(POAGATE, None, None) == "foreign"  # no revision recorded
    assert classify(POAGATE, SCHEMA_REVISION, None) == "current"
    assert classify(POAGATE, OLDER, None) == "outdated"
    assert classify(POAGATE, NEWER, SCHEMA_REVISION) == "newer_usable"
    assert classify(POAGATE, NEWER, NEWER) == "newer"
    assert classify(POAGATE, NEWER, None) == "newer"


ALLOWED: dict[tuple[Kind, SchemaMode], str] = {
    ("current", "use"): "open",
    ("current", "create"): "open",
    ("current", "upgrade"): "open",
    ("newer_usable", "use"): "open",
    ("newer_usable", "create"): "open",
    ("newer_usable", "upgrade"): "open",
    ("missing", "create"): "create",
    ("empty", "create"): "create",
    ("outdated", "upgrade"): "migrate",
}
ADVICE: dict[Kind, str] = {
    "no_folder": "poagate creates no folders",
    "missing": "run `poagate db init --database x.db`",
    "empty": "run `poagate db init --database x.db`",
    "foreign": "is not a poagate store",
    "outdated": "run `poagate db upgrade --database x.db`",
    "newer": "upgrade poagate",
}


@pytest.mark.parametrize("mode", ["use", "create", "upgrade"])
@pytest.mark.parametrize(
    "kind",
    ["no_folder", "missing", "empty", "foreign", "current", "outdated", "newer_usable", "newer"],
)
def test_each_command_may_only_do_what_its_mode_allows(kind: Kind, mode: SchemaMode) -> None:
    state = StoreState(kind, "x.db", revision=OLDER if kind == "outdated" else None)
    allowed = ALLOWED.get((kind, mode))
    if allowed is not None:
        assert settle(state, mode) == allowed
        return
    with pytest.raises(StoreRefusedError, match=re.escape(ADVICE[kind])):
        settle(state, mode)
