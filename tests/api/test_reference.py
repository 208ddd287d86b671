"""spec §11 over HTTP: full loads streamed (chunked, larger than any message batch), change
files, versions; decisions made after a change see it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from poagate.api.options import ServerOptions
from tests.api_harness import (
    OPERATORS,
    Api,
    Clock,
    activation,
    ad1,
    chf_of,
    esme_of,
    fleet_csv,
    make_api,
)
from tests.helpers import INVENTORY_HEADER, mpan
from tests.stores import on_both_backends

CHANGE_HEADER = f"change,{INVENTORY_HEADER}"


def put_csv(api: Api, path: str, body: Any, method: str = "PUT") -> Any:
    admin = api.token("admin")
    return api.client.request(
        method, path, content=body, headers={**api.auth(admin), "Content-Type": "text/csv"}
    )


def chunks(text: str, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body sent in pieces, with no Content-Length (chunked transfer encoding)."""
    data = text.encode()
    for start in range(0, len(data), size):
        yield data[start : start + size]


def big_fleet(extra_sites: int) -> str:
    """The harness's fleet and ``extra_sites`` more ESMEs and hubs of operator 23."""
    rows = [fleet_csv().rstrip("\n")]
    for n in range(extra_sites):
        rows.append(
            f"00-12-A3-00-00-{n >> 16:02X}-{n >> 8 & 255:02X}-{n & 255:02X},ESME,SMETS2,"
            f"SECURE,,00-15-7C-00-00-{n >> 16:02X}-{n >> 8 & 255:02X}-{n & 255:02X},"
            f"{mpan('23')},,LS1 4AP"
        )
    return "\n".join(rows) + "\n"


def test_a_chunked_load_larger_than_a_message_batch_replaces_the_inventory(api: Api) -> None:
    body = big_fleet(120_000)
    assert len(body) > 8 * 1024 * 1024  # over the body limit of /v1/messages
    answer = put_csv(api, "/v1/reference/inventory", chunks(body))
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["state"], result["rows_rejected"], result["devices"]) == (
        "in_force",
        0,
        2 * len(OPERATORS) + 120_000,
    )
    admin = api.token("admin")
    versions = api.get(admin, "/v1/reference/inventory/versions").json()
    assert versions["in_force"] == result["load"]
    assert [v["state"] for v in versions["items"]] == ["replaced", "in_force"]
    dsp = api.token("dsp")
    forwarded = api.post(dsp, ad1("A1", "00-15-7C-00-00-01-00-07")).json()["items"][0]
    assert forwarded["network_operator"] == "23"


def test_changes_take_effect_for_the_decisions_after_them(api: Api) -> None:
    dsp = api.token("dsp")
    # A hub exchange: the ESME of area 10 now powers hub 11 (whose own ESME is removed).
    changes = "\n".join(
        (
            CHANGE_HEADER,
            f"upsert,{esme_of('10')},ESME,SMETS2,LANDIS+GYR,,{chf_of('11')},{mpan('10')},,",
            f"remove,{esme_of('11')},,,,,,,,",
            f"upsert,{esme_of('12')},ESME,SMETS2,SECURE,,{chf_of('12')},{mpan('12')},,",
            "upsert,bad,ESME,SMETS2,X,,,,,",
        )
    )
    answer = put_csv(api, "/v1/reference/inventory/changes", changes, method="POST")
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["kind"], result["rows_removed"], result["rows_rejected"]) == ("changes", 1, 1)
    assert result["rejected"][0]["line"] == 5
    api.post(dsp, activation(esme_of("10"), 1))
    assert api.post(dsp, ad1("S", chf_of("11"))).json()["counts"] == {"suppressed": 1}
    routed = api.post(dsp, ad1("F", chf_of("10"))).json()["items"][0]
    assert (routed["outcome"], routed["network_operator"]) == ("forwarded", "")
    # A manufacturer corrected: the ESME of area 12 is no longer Landis+Gyr.
    reason = api.post(dsp, activation(esme_of("12"), 1)).json()["items"][0]["reason"]
    assert reason == "manufacturer_not_listed"
    admin = api.token("admin")
    audit = [e["action"] for e in api.get(admin, "/v1/audit").json()["items"]]
    assert "inventory.changes" in audit


def test_a_change_file_needs_its_change_column(api: Api) -> None:
    answer = put_csv(api, "/v1/reference/inventory/changes", fleet_csv(), method="POST")
    assert answer.status_code == 400
    assert "lacks column(s) change" in answer.json()["detail"]


def activate(api: Api, what: str, version: int, force: bool = False) -> Any:
    admin = api.token("admin")
    return api.client.post(
        f"/v1/reference/{what}/versions/{version}/activate",
        params={"force": "true"} if force else {},
        headers=api.auth(admin),
    )


def last_audit(api: Api, action: str) -> Any:
    items = api.get(api.token("admin"), "/v1/audit", limit=1000).json()["items"]
    return [e for e in items if e["action"] == action][-1]


def routed_to(api: Api, alert_id: str, operator: str) -> str:
    dsp = api.token("dsp")
    answer = api.post(dsp, ad1(alert_id, chf_of(operator))).json()["items"][0]
    assert answer["outcome"] == "forwarded"
    return str(answer["network_operator"])


def test_an_inventory_of_bad_rows_is_refused_with_its_figures_and_ad1s_still_route(
    api: Api,
) -> None:
    """Finding 3: an inventory whose every row is bad answered 200 in_force, and the next AD1
    was forwarded to network_operator "" (no DNO)."""
    admin = api.token("admin")
    before = api.get(admin, "/v1/reference/inventory/versions").json()["in_force"]
    bad = "\n".join([INVENTORY_HEADER] + [f"{esme_of(o)},ESME,SMETS9,X,,,,,," for o in OPERATORS])
    answer = put_csv(api, "/v1/reference/inventory", bad)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["title"] == "The inventory was refused"
    assert (problem["figures"]["rows_read"], problem["figures"]["rows_rejected"]) == (14, 14)
    assert "14 of its 14 rows were rejected" in problem["reasons"][0]
    assert "force=true" in problem["detail"]
    versions = api.get(admin, "/v1/reference/inventory/versions").json()
    assert versions["in_force"] == before
    assert versions["items"][-1]["state"] == "refused"
    assert routed_to(api, "AFTER-REFUSAL", "12") == "12"


@on_both_backends
def test_a_forced_load_is_audited_and_an_earlier_version_goes_back_in_force(api: Api) -> None:
    admin = api.token("admin")
    before = api.get(admin, "/v1/reference/inventory/versions").json()["in_force"]
    one_area = "\n".join(fleet_csv().splitlines()[:3]) + "\n"  # area 10 alone: 2 of 28 devices
    refused = put_csv(api, "/v1/reference/inventory", one_area)
    assert refused.status_code == 422
    assert refused.json()["figures"] | {"max_shrink": 0.9} == {
        "load": refused.json()["figures"]["load"],
        "rows_read": 2,
        "rows_rejected": 0,
        "rejected_share": 0.0,
        "max_rejected_share": 0.01,
        "devices_in_force": 28,
        "devices_after": 2,
        "max_shrink": 0.9,
    }
    forced = put_csv(api, "/v1/reference/inventory?force=true", one_area)
    assert forced.status_code == 200, forced.text
    assert "it would leave 2 of the 28 devices" in forced.json()["forced"][0]
    assert routed_to(api, "NOWHERE", "12") == ""
    assert last_audit(api, "inventory.load")["detail"]["forced"] == forced.json()["forced"]
    # Back from 2 devices to 28 needs no force.
    back = activate(api, "inventory", before)
    assert back.status_code == 200, back.text
    assert (back.json()["kind"], back.json()["base"], back.json()["devices"]) == (
        "rollback",
        before,
        28,
    )
    assert back.json()["previous"] == forced.json()["load"]
    assert routed_to(api, "BACK", "12") == "12"
    assert api.get(admin, "/v1/reference/inventory/versions").json()["in_force"] == before
    assert last_audit(api, "inventory.rollback")["detail"]["full_load"] == before
    # Forward again to 2 devices is refused, then forced.
    assert activate(api, "inventory", forced.json()["load"]).status_code == 422
    assert activate(api, "inventory", forced.json()["load"], force=True).status_code == 200


def test_activating_a_version_that_cannot_be_put_back_is_409_and_a_bad_number_422(
    api: Api,
) -> None:
    assert activate(api, "inventory", 4242).status_code == 409
    assert activate(api, "guid-list", 4242).status_code == 409
    for bad in ("0", "99999999999999999999", "x"):
        answer = api.client.post(
            f"/v1/reference/inventory/versions/{bad}/activate",
            headers=api.auth(api.token("admin")),
        )
        assert answer.status_code == 422, bad


def test_the_versions_cursor_has_an_upper_bound_and_never_overflows_into_a_500(api: Api) -> None:
    admin = api.token("admin")
    for after in ("9223372036854775808", "99999999999999999999", str(2**31)):
        answer = api.get(admin, "/v1/reference/inventory/versions", after=after)
        assert answer.status_code == 422, (after, answer.text)
    assert api.get(admin, "/v1/reference/inventory/versions", after=2**31 - 1).json()["items"] == []


def test_a_guid_list_that_would_empty_the_list_is_refused_and_a_rollback_restores_it(
    api: Api,
) -> None:
    admin = api.token("admin")
    headers = {**api.auth(admin), "Content-Type": "text/plain"}
    first = api.get(admin, "/v1/reference/guid-list/versions").json()["items"][-1]["version"]
    empty = api.client.put("/v1/reference/guid-list", content="# nothing\n", headers=headers)
    assert empty.status_code == 422
    assert empty.json()["figures"]["entries_after"] == 0
    one = api.client.put(
        "/v1/reference/guid-list?force=true", content=f"{esme_of('10')}\n", headers=headers
    )
    assert one.status_code == 200, one.text
    assert one.json()["forced"]
    dsp = api.token("dsp")
    reason = api.post(dsp, activation(esme_of("11"), 1)).json()["items"][0]["reason"]
    assert reason == "not_on_guid_list"
    back = activate(api, "guid-list", first)
    assert back.status_code == 200, back.text
    assert (back.json()["version"], back.json()["previous"]) == (first, one.json()["version"])
    versions = api.get(admin, "/v1/reference/guid-list/versions").json()
    assert (len(versions["items"]), versions["in_force"]) == (2, first)
    reason = api.post(dsp, activation(esme_of("11"), 2)).json()["items"][0]["reason"]
    assert reason != "not_on_guid_list"


def test_reference_uploads_over_the_configured_limit_are_413(database: str) -> None:
    for api in make_api(database, Clock(), reference_limit_bytes=10_000):
        big = big_fleet(1_000)
        answer = put_csv(api, "/v1/reference/inventory", big)
        assert answer.status_code == 413
        assert answer.headers["content-type"] == "application/problem+json"
        assert "over 10,000 bytes" in answer.json()["detail"]
        assert "poagate inventory load" in answer.json()["detail"]
        chunked = put_csv(api, "/v1/reference/inventory", chunks(big, 4096))
        assert chunked.status_code == 413
        admin = api.token("admin")
        assert api.get(admin, "/v1/reference/inventory/versions").json()["items"][-1]["state"] == (
            "in_force"
        )


def test_the_reference_limit_is_256_mib_unless_the_environment_says(
    monkeypatch: Any,
) -> None:
    assert ServerOptions().reference_limit_bytes == 256 * 1024 * 1024
    monkeypatch.setenv("POAGATE_REFERENCE_LIMIT_BYTES", "0")
    assert ServerOptions.from_env().reference_limit_bytes is None
    monkeypatch.setenv("POAGATE_REFERENCE_LIMIT_BYTES", "1000")
    options = ServerOptions.from_env()
    assert options.reference_limit_bytes == 1000
    assert options.to_env()["POAGATE_REFERENCE_LIMIT_BYTES"] == "1000"


def test_a_change_file_removing_over_a_tenth_of_the_devices_is_refused_and_writes_nothing(
    api: Api,
) -> None:
    removals = [f"remove,{d},,,,,,,," for o in ("10", "11") for d in (esme_of(o), chf_of(o))]
    changes = "\n".join((CHANGE_HEADER, *removals))  # 24 of 28 devices left: 86%
    answer = put_csv(api, "/v1/reference/inventory/changes", changes, method="POST")
    assert answer.status_code == 422, answer.text
    assert answer.json()["title"] == "The change file was refused"
    figures = answer.json()["figures"]
    assert (figures["devices_in_force"], figures["devices_after"]) == (28, 24)
    assert routed_to(api, "KEPT", "10") == "10"
    admin = api.token("admin")
    kinds = [v["kind"] for v in api.get(admin, "/v1/reference/inventory/versions").json()["items"]]
    assert "changes" not in kinds
    forced = put_csv(api, "/v1/reference/inventory/changes?force=true", changes, method="POST")
    assert (forced.status_code, forced.json()["devices"]) == (200, 24)
    assert routed_to(api, "GONE", "10") == ""
