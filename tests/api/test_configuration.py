"""Operator safety for the configuration (spec §17): ``PUT /v1/config`` is strict (an unknown
key, a wrong type, an unreachable webhook URL, an operator id below 10: 422 naming the path,
nothing changed), ``PATCH /v1/config`` (RFC 7396) changes only the keys it names, a change is
audited as the change, and the audit log is read by actor, action and time, each entry naming
its channel and token."""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from poagate.cli import app
from tests.api_harness import Api
from tests.stores import on_both_backends

SECRET_12 = "whsec_" + "A" * 32
SECRET_13 = "whsec_" + "B" * 32
HOOK_12 = {"url": "http://127.0.0.1:9/dno12", "secret": SECRET_12}
HOOK_13 = {"url": "http://127.0.0.1:9/dno13", "secret": SECRET_13}
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


def put(api: Api, admin: str, body: Any) -> Any:
    return api.client.put("/v1/config", json=body, headers=api.auth(admin))


def patch(api: Api, admin: str, body: Any, **headers: str) -> Any:
    return api.client.patch(
        "/v1/config",
        content=orjson.dumps(body),
        headers={**api.auth(admin), **MERGE_PATCH, **headers},
    )


def config_sets(api: Api, admin: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(admin, "/v1/audit", action="config.set").json()["items"]
    return items


def refused_paths(answer: Any) -> list[str]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return [e["where"] for e in answer.json()["errors"]]


# -- strict configuration --------------------------------------------------------------------


def test_a_misspelt_setting_is_refused_naming_it_and_suppression_stays_on(api: Api) -> None:
    admin = api.token("admin")
    answer = put(api, admin, {"suppresion_enabled": False})
    assert refused_paths(answer) == ["suppresion_enabled"]
    assert "suppresion_enabled" in answer.json()["detail"]
    assert api.get(admin, "/v1/config").json()["suppression_enabled"] is True
    assert config_sets(api, admin) == []


def test_a_misspelt_section_is_refused_and_every_webhook_is_kept(api: Api) -> None:
    admin = api.token("admin")
    assert put(api, admin, {"delivery": {"webhooks": {"12": HOOK_12}}}).status_code == 200
    answer = put(api, admin, {"delivery": {"webhook": {"13": HOOK_13}}})
    assert refused_paths(answer) == ["delivery.webhook"]
    assert list(api.get(admin, "/v1/config").json()["delivery"]["webhooks"]) == ["12"]


def test_a_value_of_the_wrong_type_is_refused_naming_its_path(api: Api) -> None:
    admin = api.token("admin")
    answer = put(api, admin, {"window_minutes": "10", "suppression_enabled": "false"})
    assert sorted(refused_paths(answer)) == ["suppression_enabled", "window_minutes"]
    assert api.get(admin, "/v1/config").json()["window_minutes"] == 30


def test_an_unreachable_webhook_port_and_an_operator_below_10_are_refused_when_set(
    api: Api,
) -> None:
    admin = api.token("admin")
    bad_port = {"url": "http://127.0.0.1:91000/x", "secret": SECRET_13}
    answer = put(api, admin, {"delivery": {"webhooks": {"13": bad_port}}})
    assert refused_paths(answer) == ["delivery.webhooks.13.url"]
    assert "1 to 65535" in answer.json()["detail"]
    answer = put(api, admin, {"delivery": {"webhooks": {"05": HOOK_13}}})
    assert refused_paths(answer) == ["delivery.webhooks"]
    assert "'05'" in answer.json()["detail"]
    assert api.get(admin, "/v1/config").json()["delivery"]["webhooks"] == {}


def test_what_get_shows_can_be_put_back_unchanged(api: Api) -> None:
    admin = api.token("admin")
    assert put(api, admin, {"delivery": {"webhooks": {"12": HOOK_12}}}).status_code == 200
    shown = api.get(admin, "/v1/config").json()
    again = put(api, admin, shown)
    assert again.status_code == 200, again.text
    assert again.json()["changed"] is False
    assert patch(api, admin, shown).json()["changed"] is False


# -- PATCH: only the keys named ------------------------------------------------------------------


def test_patching_one_dnos_webhook_keeps_every_other_setting(api: Api) -> None:
    admin = api.token("admin")
    put(api, admin, {"window_minutes": 20, "delivery": {"webhooks": {"12": HOOK_12}}})
    answer = patch(api, admin, {"delivery": {"webhooks": {"13": HOOK_13}}})
    assert answer.status_code == 200, answer.text
    hooks = answer.json()["delivery"]["webhooks"]
    assert {k: v["url"] for k, v in hooks.items()} == {"12": HOOK_12["url"], "13": HOOK_13["url"]}
    assert answer.json()["window_minutes"] == 20
    assert SECRET_12 not in answer.text
    assert SECRET_13 not in answer.text
    # Only the URL of 12 changes; its secret is kept (left out, as GET shows it).
    moved = patch(api, admin, {"delivery": {"webhooks": {"12": {"url": "http://127.0.0.1:9/x"}}}})
    assert moved.status_code == 200, moved.text
    assert moved.json()["changes"] == {
        "delivery.webhooks.12.url": {"before": HOOK_12["url"], "after": "http://127.0.0.1:9/x"}
    }


def test_null_in_a_patch_removes_a_webhook_and_returns_a_setting_to_its_default(
    api: Api,
) -> None:
    admin = api.token("admin")
    put(
        api, admin, {"window_minutes": 20, "delivery": {"webhooks": {"12": HOOK_12, "13": HOOK_13}}}
    )
    answer = patch(api, admin, {"window_minutes": None, "delivery": {"webhooks": {"12": None}}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["window_minutes"] == 30
    assert list(answer.json()["delivery"]["webhooks"]) == ["13"]


def test_a_refused_patch_changes_nothing_and_names_the_path(api: Api) -> None:
    admin = api.token("admin")
    put(api, admin, {"delivery": {"webhooks": {"12": HOOK_12}}})
    before = api.get(admin, "/v1/config").json()
    bad_port = {"delivery": {"webhooks": {"13": {"url": "http://127.0.0.1:91000/"}}}}
    for body, path in (
        ({"window_minutes": 20, "suppresion_enabled": False}, "suppresion_enabled"),
        (bad_port, "delivery.webhooks.13.url"),
        ({"delivery": {"max_attempts": 0}}, "delivery.max_attempts"),
    ):
        assert refused_paths(patch(api, admin, body)) == [path]
    assert api.get(admin, "/v1/config").json() == before


def test_a_patch_is_read_only_as_merge_patch_json_of_an_object(api: Api) -> None:
    admin = api.token("admin")
    as_json = patch(api, admin, {"window_minutes": 20}, **{"Content-Type": "application/json"})
    assert as_json.status_code == 415
    not_json = api.client.patch(
        "/v1/config", content=b"{window", headers={**api.auth(admin), **MERGE_PATCH}
    )
    assert not_json.status_code == 400
    assert patch(api, admin, [1, 2]).status_code == 422
    assert (
        api.client.patch("/v1/config", json={}, headers=api.auth(api.token("dsp"))).status_code
        == 403
    )
    assert api.get(admin, "/v1/config").json()["window_minutes"] == 30


# -- audit: the change, and reading it -----------------------------------------------------------


def test_a_config_change_is_audited_as_before_and_after_per_path_not_a_snapshot(
    api: Api,
) -> None:
    admin = api.token("admin")
    put(api, admin, {"delivery": {"webhooks": {"12": HOOK_12}}})
    patch(
        api, admin, {"window_minutes": 20, "delivery": {"webhooks": {"12": {"secret": SECRET_13}}}}
    )
    entries = config_sets(api, admin)
    assert len(entries) == 2
    changes = entries[1]["detail"]["changes"]
    assert changes["window_minutes"] == {"before": 30, "after": 20}
    assert changes["delivery.webhooks.12.secret"] == {"before": "***", "after": "***"}
    assert changes["delivery.webhooks.12.previous_secret"] == {"before": None, "after": "***"}
    assert "manufacturers" not in changes  # unchanged: not there
    assert "manufacturers" not in entries[1]["detail"]  # no snapshot
    assert SECRET_12 not in str(entries)
    assert SECRET_13 not in str(entries)


@on_both_backends
def test_the_audit_log_is_read_by_actor_action_and_time_newest_first_on_request(
    api: Api,
) -> None:
    admin, other = api.token("admin"), api.token("admin")
    put(api, admin, {"window_minutes": 20})
    api.clock.advance(hours=1)
    patch(api, other, {"window_minutes": 25})
    api.clock.advance(hours=1)
    put(api, admin, {"suppression_enabled": False})

    def seqs(**params: Any) -> list[int]:
        answer = api.get(admin, "/v1/audit", **params)
        assert answer.status_code == 200, answer.text
        return [e["seq"] for e in answer.json()["items"]]

    every = seqs()
    assert every == sorted(every)  # oldest first stays the default
    assert seqs(order="newest") == every[::-1]
    newest_two = seqs(order="newest", limit=2)
    assert seqs(order="newest", after=newest_two[-1]) == every[::-1][2:]
    sets = api.get(admin, "/v1/audit", action="config.set").json()["items"]
    assert [e["detail"]["changes"]["window_minutes"]["after"] for e in sets[:2]] == [20, 25]
    others = api.get(admin, "/v1/audit", actor=sets[1]["actor"]).json()["items"]
    assert [e["action"] for e in others] == ["config.set"]
    window = api.get(
        admin, "/v1/audit", **{"from": "2026-03-01T10:30:00Z", "to": "2026-03-01T11:30:00Z"}
    ).json()["items"]
    assert [e["seq"] for e in window] == [sets[1]["seq"]]
    assert api.get(admin, "/v1/audit", **{"from": "yesterday"}).status_code == 422


def test_each_audit_entry_names_its_channel_and_token(api: Api) -> None:
    admin = api.token("admin")
    token_id = api.get(admin, "/v1/audit").json()["items"][-1]["detail"]["token"]
    put(api, admin, {"window_minutes": 20})  # api
    browser = TestClient(api.client.app, follow_redirects=False)  # console
    assert browser.post("/ui/login", data={"token": admin}).status_code == 303
    csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/ui/").text)
    assert csrf is not None
    suspended = browser.post("/ui/suppression", data={"csrf": csrf.group(1), "enabled": "false"})
    assert suspended.status_code == 303, suspended.text
    resumed = CliRunner().invoke(app, ["resume", "--database", api.database])  # cli
    assert resumed.exit_code == 0, resumed.output
    acts = [
        (e["action"], e["channel"], e["token"], e["actor"])
        for e in api.get(admin, "/v1/audit", order="newest", limit=5).json()["items"]
    ]
    ours = f"token {token_id} (admin)"
    assert [a[:3] for a in acts[:5]] == [
        ("suppression.resume", "cli", None),
        ("config.set", "cli", None),
        ("suppression.suspend", "console", token_id),
        ("config.set", "console", token_id),
        ("config.set", "api", token_id),
    ]
    assert acts[0][3].startswith("command line (")
    assert {a[3] for a in acts[2:]} == {ours}
    page = browser.get("/ui/audit").text
    assert "<td>console</td>" in page
    assert "<td>cli</td>" in page


@on_both_backends
def test_an_audit_filter_holding_a_control_character_is_refused_not_a_500(api: Api) -> None:
    admin = api.token("admin")
    for params in ({"actor": "token 1\x00"}, {"action": "config.set\n"}):
        # refused at the edge, before any route: a query holding a control character (spec §17)
        assert api.get(admin, "/v1/audit", **params).status_code == 400
