"""Tokens and roles; reference data, configuration and their audit trail (admin)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from poagate.service.access import token_sha256
from poagate.store.database import open_store, sqlite_path
from tests.api_harness import OPERATORS, Api, activation, ad1, chf_of, esme_of
from tests.helpers import INVENTORY_HEADER, mpan


def test_no_token_a_wrong_token_and_a_revoked_token_are_401(api: Api) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer pg_not-a-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ):
        answer = api.client.get("/v1/summary", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == 'Bearer realm="poagate"'
        # The message route checks its caller itself (auth.caller), not as a dependency.
        posted = api.client.post(
            "/v1/messages",
            json=ad1("A", chf_of("12")),
            headers=headers,
        )
        assert posted.status_code == 401, posted.text
        assert posted.headers["www-authenticate"] == 'Bearer realm="poagate"'
    dno = api.token("dno", "12")
    assert api.get(dno, "/v1/summary").status_code == 200
    admin = api.token("admin")
    listed = [
        t
        for t in api.client.get("/v1/audit", headers=api.auth(admin)).json()["items"]
        if t["action"] == "token.create"
    ]
    token_id = listed[-2]["detail"]["token"]  # the dno token, made before the admin one
    assert api.client.delete(f"/v1/tokens/{token_id}", headers=api.auth(admin)).status_code == 200
    assert api.get(dno, "/v1/summary").status_code == 401
    again = api.client.delete(f"/v1/tokens/{token_id}", headers=api.auth(admin))
    assert again.status_code == 404


def test_wrong_role_is_403(api: Api) -> None:
    dno, dsp = api.token("dno", "12"), api.token("dsp")
    assert api.post(dno, ad1("A", chf_of("12"))).status_code == 403
    assert api.client.put("/v1/config", json={}, headers=api.auth(dsp)).status_code == 403


def test_tokens_are_stored_only_as_hashes(api: Api) -> None:
    admin = api.token("admin")
    made = api.client.post(
        "/v1/tokens",
        json={"role": "dno", "network_operators": ["14"], "description": "NGED control room"},
        headers=api.auth(admin),
    )
    assert made.status_code == 201
    token = made.json()["token"]
    assert api.get(token, "/v1/summary").json()["network_operators"] == ["14"]
    with open_store(api.database, "read") as store:
        record = store.tokens.get(token_sha256(token))
        assert record is not None
        assert record.description == "NGED control room"
    if api.database.startswith("sqlite"):
        raw = sqlite_path(api.database).read_bytes()
        wal = sqlite_path(api.database).with_name(sqlite_path(api.database).name + "-wal")
        raw += wal.read_bytes() if wal.exists() else b""
        assert token.encode() not in raw
        assert token_sha256(token).encode() in raw


def test_token_requests_are_checked(api: Api) -> None:
    admin = api.token("admin")
    for body, message in [
        ({"role": "dno"}, "needs at least one network operator"),
        ({"role": "dsp", "network_operators": ["12"]}, "is not bound to network operators"),
        ({"role": "dno", "network_operators": ["123"]}, "two-digit distributor id"),
    ]:
        answer = api.client.post("/v1/tokens", json=body, headers=api.auth(admin))
        assert answer.status_code == 422
        assert message in answer.json()["detail"]


def test_token_command_prints_the_token_alone_on_its_last_line_once(api: Api) -> None:
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "poagate.cli",
            "token",
            "create",
            "--role",
            "dno",
            "--network-operator",
            "10",
            "--network-operator",
            "11",
            "--database",
            api.database,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = made.stdout.strip().splitlines()
    token = lines[-1]
    assert len(lines) == 1  # the token alone on standard output; what it is on standard error
    assert "network operators 10, 11" in made.stderr
    assert token not in made.stderr
    assert api.get(token, "/v1/summary").json()["network_operators"] == ["10", "11"]
    listed = subprocess.run(
        [sys.executable, "-m", "poagate.cli", "token", "list", "--database", api.database],
        capture_output=True,
        text=True,
        check=True,
    )
    assert token not in listed.stdout
    assert "10, 11" in listed.stdout
    token_id = next(line for line in listed.stdout.splitlines() if "10, 11" in line).split()[1]
    revoked = subprocess.run(
        [
            sys.executable,
            "-m",
            "poagate.cli",
            "token",
            "revoke",
            token_id,
            "--database",
            api.database,
        ],
        capture_output=True,
        text=True,
    )
    assert revoked.returncode == 0, revoked.stderr
    assert api.get(token, "/v1/summary").status_code == 401


def test_inventory_upload_reports_rejected_rows_with_line_numbers(api: Api) -> None:
    admin = api.token("admin")
    body = (
        "\n".join(
            [
                INVENTORY_HEADER,
                # A hub exchange: ESME 10 moves to hub 11.
                f"{esme_of('10')},ESME,SMETS2,LANDIS+GYR,,{chf_of('11')},{mpan('10')},,",
                "not-a-device,ESME,SMETS2,LANDIS+GYR,,,,,",
                f"{esme_of('12')},ESME,SMETS2,LANDIS+GYR,,{chf_of('12')},1234567890125,,",
            ]
        )
        + "\n"
    )
    answer = api.client.put(
        "/v1/reference/inventory?force=true",  # 1 device of 28, and 2 rows of 3 rejected
        content=body,
        headers={**api.auth(admin), "Content-Type": "text/csv"},
    )
    assert answer.status_code == 200
    result = answer.json()
    assert (result["rows_read"], result["rows_accepted"], result["rows_rejected"]) == (3, 1, 2)
    rejected = [(r["line"], r["error"]) for r in result["rejected"]]
    assert [line for line, _ in rejected] == [3, 4]
    assert rejected[0][1].startswith("device_id: 'not-a-device' is not a Device ID")
    assert rejected[1][1].startswith("MPAN '1234567890125' fails its check digit")
    # The exchange took effect: the ESME's activation now opens a window on its new hub.
    dsp = api.token("dsp")
    api.post(dsp, activation(esme_of("10"), 9))
    assert api.post(dsp, ad1("X", chf_of("11"))).json()["counts"] == {"suppressed": 1}
    bad_header = api.client.put(
        "/v1/reference/inventory",
        content="a,b\n",
        headers={**api.auth(admin), "Content-Type": "text/csv"},
    )
    assert bad_header.status_code == 400
    assert "lacks column(s)" in bad_header.json()["detail"]


def test_guid_list_versions(api: Api) -> None:
    admin = api.token("admin")
    headers = {**api.auth(admin), "Content-Type": "text/plain"}
    same = api.client.put(
        "/v1/reference/guid-list",
        content="\n".join(esme_of(o) for o in reversed(OPERATORS)),
        headers=headers,
    ).json()
    assert (same["version"], same["new_version"]) == (1, False)
    smaller = api.client.put(  # 1 entry of 14, and 1 line of 2 rejected
        "/v1/reference/guid-list?force=true", content=f"{esme_of('10')}\nbad\n", headers=headers
    ).json()
    assert (smaller["version"], smaller["new_version"], smaller["entries"]) == (2, True, 1)
    assert smaller["rejected"][0]["line"] == 2
    versions = api.get(admin, "/v1/reference/guid-list/versions").json()["items"]
    assert [(v["version"], v["entries"]) for v in versions] == [(1, 14), (2, 1)]
    dsp = api.token("dsp")
    reason = api.post(dsp, activation(esme_of("12"), 1)).json()["items"][0]["reason"]
    assert reason == "not_on_guid_list"


def test_config_changes_take_effect_hide_secrets_and_are_audited(api: Api) -> None:
    admin = api.token("admin")
    current = api.get(admin, "/v1/config").json()
    assert current["window_minutes"] == 30
    assert current["manufacturers"] == ["LANDIS+GYR"]
    wanted = {
        "manufacturers": ["LANDIS+GYR"],
        "window_minutes": 10,
        "skew_tolerance_seconds": 0,
        "delivery": {
            "webhooks": {"12": {"url": "http://127.0.0.1:9/hook", "secret": "s3cret-s3cret-s3cret"}}
        },
    }
    answer = api.client.put("/v1/config", json=wanted, headers=api.auth(admin))
    assert answer.status_code == 200, answer.text
    shown = answer.json()["delivery"]["webhooks"]["12"]
    assert (shown["secret"], shown["secret_set"]) == (None, True)  # not even its last characters
    assert "s3cret" not in api.get(admin, "/v1/config").text
    # Keeping the secret: leave it out.
    wanted["delivery"]["webhooks"]["12"].pop("secret")  # type: ignore[index]
    kept = api.client.put("/v1/config", json=wanted, headers=api.auth(admin)).json()
    assert kept["changed"] is False
    dsp = api.token("dsp")
    api.post(dsp, activation(esme_of("13"), 1))
    assert api.post(dsp, activation(esme_of("13"), 1)).json()["items"][0]["window_end"] == (
        "2026-03-01T10:10:00Z"
    )
    audit = api.get(admin, "/v1/audit").json()["items"]
    actions = [e["action"] for e in audit]
    assert actions.count("config.set") == 1
    assert "inventory.load" in actions
    assert "guid_list.load" in actions
    assert all("s3cret" not in str(e["detail"]) and "****" not in str(e["detail"]) for e in audit)
    config_entry = next(e for e in audit if e["action"] == "config.set")
    assert config_entry["actor"].endswith("(admin)")
    bad = api.client.put(
        "/v1/config", json={**wanted, "window_minutes": 0}, headers=api.auth(admin)
    )
    assert bad.status_code == 422
    assert "window_minutes" in bad.json()["detail"]
    missing = api.client.put(
        "/v1/config",
        json={"delivery": {"webhooks": {"15": {"url": "http://127.0.0.1:9/"}}}},
        headers=api.auth(admin),
    )
    assert missing.status_code == 422
    assert "secret is needed" in missing.json()["detail"]


def test_sqlite_token_table_holds_hashes_only(api: Api) -> None:
    if not api.database.startswith("sqlite"):
        return
    token = api.token("dsp")
    with sqlite3.connect(sqlite_path(api.database)) as conn:
        stored = [r[0] for r in conn.execute("SELECT token_sha256 FROM api_tokens")]
    assert token_sha256(token) in stored
    assert token not in stored
