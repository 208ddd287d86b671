"""Reference data's safety on the command line (spec §17): ``poagate inventory load`` and
``guid-list load`` refuse a file over the limits (exit 1, with the figures) unless ``--force``,
and ``poagate inventory rollback`` / ``guid-list rollback`` put an earlier version back, seen by
the service's next decision and audited with the command line as the actor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from poagate.cli import app
from poagate.store.database import open_store
from tests.api_harness import OPERATORS, Api, Clock, activation, ad1, chf_of, esme_of, make_api
from tests.helpers import INVENTORY_HEADER


@pytest.fixture
def api(seeded_sqlite: str) -> Iterator[Api]:
    yield from make_api(seeded_sqlite, Clock())


def run(api: Api, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--database", api.database])
    return result.exit_code, result.output


def routed_to(api: Api, alert_id: str, operator: str) -> str:
    item = api.post(api.token("dsp"), ad1(alert_id, chf_of(operator))).json()["items"][0]
    assert item["outcome"] == "forwarded"
    return str(item["network_operator"])


def test_inventory_load_refuses_bad_rows_with_the_figures_and_rollback_undoes_a_forced_one(
    api: Api, tmp_path: Path
) -> None:
    """Finding 3: ``poagate inventory load`` of a file of bad rows exited 0 and AD1s went to no
    DNO; and there was no way back."""
    bad = tmp_path / "bad.csv"
    rows = [f"{esme_of(o)},ESME,SMETS9,X,,,,,," for o in OPERATORS]
    bad.write_text("\n".join([INVENTORY_HEADER, *rows]) + "\n")
    code, text = run(api, "inventory", "load", str(bad))
    assert code == 1, text
    assert "rows_rejected 14" in text
    assert "14 of its 14 rows were rejected" in text
    assert "--force" in text
    assert routed_to(api, "REFUSED", "12") == "12"
    code, text = run(api, "inventory", "load", str(bad), "--force")
    assert code == 0, text
    assert "forced past a limit" in text
    assert routed_to(api, "FORCED", "12") == ""
    code, text = run(api, "inventory", "rollback")
    assert code == 0, text
    assert "in force again" in text
    assert routed_to(api, "ROLLED-BACK", "12") == "12"
    code, text = run(api, "inventory", "rollback", "--to", "9999")
    assert (code, "no inventory version 9999" in text) == (1, True)
    with open_store(api.database, "read") as store:
        acts = [(e.action, e.actor) for e in store.audit.entries(0, 1000)]
    mine = [a for a in acts if a[0] in ("inventory.load", "inventory.rollback")][-2:]
    assert [a for a, _ in mine] == ["inventory.load", "inventory.rollback"]
    assert all(actor.startswith("command line (") for _, actor in mine)


def test_guid_list_load_refuses_a_list_that_would_empty_it_and_rollback_restores_one(
    api: Api, tmp_path: Path
) -> None:
    one = tmp_path / "one.txt"
    one.write_text(f"{esme_of('10')}\n")
    code, text = run(api, "guid-list", "load", str(one))
    assert code == 1, text
    assert "it would leave 1 of the 14 entries" in text
    assert run(api, "guid-list", "load", str(one), "--force")[0] == 0
    dsp = api.token("dsp")
    reason = api.post(dsp, activation(esme_of("11"), 1)).json()["items"][0]["reason"]
    assert reason == "not_on_guid_list"
    code, text = run(api, "guid-list", "rollback", "--to", "1")
    assert code == 0, text
    assert "GUID list version 1 in force again (was 2)" in text
    assert api.post(dsp, activation(esme_of("11"), 2)).json()["items"][0]["outcome"] == "recorded"
    code, text = run(api, "guid-list", "versions")
    assert "in_force" in text
