"""spec §11 over HTTP: full loads streamed (chunked, larger than any message batch), change
files, versions; decisions made after a change see it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tests.api_harness import OPERATORS, Api, activation, ad1, chf_of, esme_of, fleet_csv
from tests.helpers import INVENTORY_HEADER, mpan

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
