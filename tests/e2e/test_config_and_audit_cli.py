"""``poagate config show|patch`` and ``poagate audit`` (spec §17) on a store: the configuration
shown without its secrets, a merge patch changing only what it names (strict, nothing changed
when refused), and the audit log read back newest first, filtered, with whole actors."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from poagate.cli import app
from poagate.store.database import open_store

SECRET = "whsec_" + "S" * 32
HOOK_12 = {"url": "http://dno:pw-12-pw@127.0.0.1:9/dno12", "secret": SECRET}
HOOK_13 = {"url": "http://127.0.0.1:9/dno13", "secret": "whsec_" + "T" * 32}


def run(database: str, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--database", database], input=stdin)
    return result.exit_code, result.output


def test_config_patch_changes_only_what_it_names_and_show_hides_secrets(
    empty_sqlite: str, tmp_path: object
) -> None:
    code, text = run(empty_sqlite, "config", "patch", "-", stdin=orjson.dumps(
        {"window_minutes": 20, "delivery": {"webhooks": {"12": HOOK_12}}}).decode())  # fmt: skip
    assert code == 0, text
    assert "window_minutes: 30 → 20" in text
    patch_file = f"{tmp_path}/patch.json"
    with open(patch_file, "wb") as f:
        f.write(orjson.dumps({"delivery": {"webhooks": {"13": HOOK_13}}}))
    code, text = run(empty_sqlite, "config", "patch", patch_file, "--note", "DNO 13 live")
    assert code == 0, text
    code, shown = run(empty_sqlite, "config", "show")
    assert code == 0, shown
    config = orjson.loads(shown)
    assert sorted(config["delivery"]["webhooks"]) == ["12", "13"]
    assert config["window_minutes"] == 20
    assert config["delivery"]["webhooks"]["12"]["url"] == "http://dno:***@127.0.0.1:9/dno12"
    assert SECRET not in shown
    assert "pw-12-pw" not in shown
    # What show printed, patched back, changes nothing.
    assert "nothing changed" in run(empty_sqlite, "config", "patch", "-", stdin=shown)[1]


def test_a_refused_config_patch_exits_2_naming_the_path_and_changes_nothing(
    empty_sqlite: str,
) -> None:
    for patch, path in (
        ({"suppresion_enabled": False}, "suppresion_enabled"),
        ({"delivery": {"webhooks": {"13": {"url": "http://127.0.0.1:91000/x", "secret": SECRET}}}},
         "delivery.webhooks.13.url"),
    ):  # fmt: skip
        code, text = run(empty_sqlite, "config", "patch", "-", stdin=orjson.dumps(patch).decode())
        assert code == 2, text
        assert path in text
    assert run(empty_sqlite, "config", "patch", "-", stdin="{nope")[0] == 2
    with open_store(empty_sqlite, "read") as store:
        assert store.audit.entries() == []
        assert store.reference.settings().suppression_enabled is True


def test_poagate_audit_lists_newest_first_filtered_with_whole_actors(empty_sqlite: str) -> None:
    patches = [{"window_minutes": 20}, {"window_minutes": 25}]
    for patch in patches:
        assert run(empty_sqlite, "config", "patch", "-", stdin=orjson.dumps(patch).decode())[0] == 0
    assert run(empty_sqlite, "suspend", "--note", "INC-7")[0] == 0
    code, text = run(empty_sqlite, "audit", "--json")
    assert code == 0, text
    entries = orjson.loads(text)
    assert [e["action"] for e in entries] == [
        "suppression.suspend",
        "config.set",
        "config.set",
        "config.set",
    ]
    assert {(e["channel"], e["token"]) for e in entries} == {("cli", None)}
    actor = entries[0]["actor"]
    code, text = run(empty_sqlite, "audit", "--action", "config.set", "--oldest-first", "--json")
    assert [e["detail"]["changes"].get("window_minutes", {}).get("after") for e in
            orjson.loads(text)] == [20, 25, None]  # fmt: skip
    code, table = run(empty_sqlite, "audit", "--actor", actor, "--action", "config.set")
    assert code == 0, table
    assert actor in table  # whole, not cut
    assert "window_minutes: 20 → 25" in table
    assert run(empty_sqlite, "audit", "--actor", "nobody", "--json")[1].strip() == "[]"
    assert run(empty_sqlite, "audit", "--from", "yesterday")[0] == 2
