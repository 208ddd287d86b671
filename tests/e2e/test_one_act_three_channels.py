"""One operator act, whichever channel it comes through: suspending suppression from the HTTP
API (``PUT /v1/config``), the console's switch or ``poagate suspend`` is the same configuration
change (``service.configuration.change_configuration``), so it leaves the same configuration
in the store and the same audit entries, differing only in who is named as the actor and the
channel each entry names (spec §17)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from poagate.cli import app
from poagate.store.database import open_store
from tests.api_harness import Api, Clock, make_api

WEBHOOK = {"url": "http://dno:pass-pass@127.0.0.1:9/hook", "secret": "whsec_" + "A" * 32}


def suspend_by_api(api: Api, admin: str) -> None:
    answer = api.client.put(
        "/v1/config", json={"suppression_enabled": False}, headers=api.auth(admin)
    )
    assert answer.status_code == 200, answer.text


def suspend_by_console(api: Api, admin: str) -> None:
    browser = TestClient(api.client.app, follow_redirects=False)
    assert browser.post("/ui/login", data={"token": admin}).status_code == 303
    csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/ui/").text)
    assert csrf is not None
    answer = browser.post("/ui/suppression", data={"csrf": csrf.group(1), "enabled": "false"})
    assert answer.status_code == 303, answer.text


def suspend_by_command_line(api: Api, admin: str) -> None:
    result = CliRunner().invoke(app, ["suspend", "--database", api.database])
    assert result.exit_code == 0, result.output


def suspended_through(channel: Any, tmp_path: Path) -> tuple[dict[str, Any], list[Any]]:
    """The configuration in force and the audit entries (actor, action, detail) a suspension
    through ``channel`` left, on a store configured the same way beforehand."""
    database = f"sqlite:///{tmp_path / (channel.__name__ + '.db')}"
    for api in make_api(database, Clock(), upload_fleet=True):
        admin = api.token("admin")
        configured = api.client.put(
            "/v1/config",
            json={"window_minutes": 20, "delivery": {"webhooks": {"12": WEBHOOK}}},
            headers=api.auth(admin),
        )
        assert configured.status_code == 200, configured.text
        with open_store(api.database, "read") as store:
            before = len(store.audit.entries(0, 1000))
        channel(api, admin)
        with open_store(api.database, "read") as store:
            settings = store.reference.settings().model_dump(mode="json")
            acts = [
                (e.actor, e.action, e.detail, e.channel) for e in store.audit.entries(before, 1000)
            ]
    return settings, acts


def test_suspending_from_the_api_the_console_or_the_command_line_is_one_act(
    tmp_path: Path,
) -> None:
    by_api, api_acts = suspended_through(suspend_by_api, tmp_path)
    by_console, console_acts = suspended_through(suspend_by_console, tmp_path)
    by_command_line, cli_acts = suspended_through(suspend_by_command_line, tmp_path)

    # The same configuration in force: only the switch changed, the webhook's secret kept.
    assert by_api == by_console == by_command_line
    assert by_api["suppression_enabled"] is False
    assert by_api["window_minutes"] == 20
    assert by_api["delivery"]["webhooks"]["12"]["secret"] == WEBHOOK["secret"]
    # The same audit entries: the change (no secret), then the suspension.
    expected = [(action, detail) for _, action, detail, _ in api_acts]
    assert [a for a, _ in expected] == ["config.set", "suppression.suspend"]
    assert expected[0][1] == {
        "changes": {"suppression_enabled": {"before": True, "after": False}},
        "note": None,
    }
    assert expected[1][1] == {"note": None}
    assert [(a, d) for _, a, d, _ in console_acts] == expected
    assert [(a, d) for _, a, d, _ in cli_acts] == expected
    # Each names who acted, as its channel knows them, and the channel.
    assert all(actor.endswith("(admin)") for actor, _, _, _ in api_acts + console_acts)
    assert all(actor.startswith("command line (") for actor, _, _, _ in cli_acts)
    assert {c for *_, c in api_acts} == {"api"}
    assert {c for *_, c in console_acts} == {"console"}
    assert {c for *_, c in cli_acts} == {"cli"}
