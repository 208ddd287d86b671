"""No 500 from what a caller can type (docs/security.md "Limits"): a NUL or another control
character, a superscript or Arabic-Indic digit, a number past 64 bits, in every path and query
parameter of every operation the OpenAPI description declares, and NULs in the text of bodies.
On PostgreSQL, which cannot hold a NUL in text, as well as on SQLite."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from poagate.api.app import create_app
from poagate.api.options import ServerOptions
from poagate.store.database import open_store
from tests.api_harness import USER, Api, activation, ad1, chf_of, esme_of, fleet_csv
from tests.stores import on_both_backends


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# Typed into a parameter as they are (percent-encoded on the wire).
HOSTILE = [
    "a\x00",
    "\x00",
    "12\r\nX-Injected: 1",
    "\x7f",
    "²",  # str.isdigit() says yes; int() refuses it
    "١٢",  # Arabic-Indic 12: int() reads it
    "9" * 25,  # past 64 bits
    "é",
    # Cursors: base64 of an id holding a NUL, and of a verification cursor's attempt in
    # digits int() cannot read or reads differently.
    b64("GOOD-1\x00"),
    b64("x#²"),
    b64("x#١"),
    b64("x#" + "9" * 30),
]


def operations() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(method, path template, [(parameter, where)]) of every operation with parameters."""
    spec = create_app(ServerOptions(database="sqlite:///unused.db")).openapi()
    found = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            params = [(p["name"], p["in"]) for p in op.get("parameters", [])]
            if params:
                found.append((method.upper(), path, params))
    return found


def send(api: Api, token: str, method: str, path: str, params: dict[str, str]) -> Any:
    headers = {**api.auth(token), "Content-Type": "application/json"}
    body = b"{}" if method in ("POST", "PUT") else None
    return api.client.request(method, path, params=params, headers=headers, content=body)


@on_both_backends  # PostgreSQL refuses a NUL in text: the store must never be asked
def test_no_parameter_of_any_operation_gets_a_500_from_what_a_caller_can_type(api: Api) -> None:
    dsp, admin, dno = api.token("dsp"), api.token("admin"), api.token("dno", "12")
    api.post(dsp, [activation(esme_of("12"), 1), ad1("GOOD-1", chf_of("12"))])
    seen = 0
    for method, template, params in operations():
        for name, where in params:
            for value in HOSTILE:
                path = template
                query: dict[str, str] = {}
                for other, other_where in params:
                    if other_where == "path":
                        sample = value if other == name else "1"
                        path = path.replace("{" + other + "}", quote(sample, safe=""))
                if where == "query":
                    query[name] = value
                for token in (admin, dno, dsp):
                    answer = send(api, token, method, path, query)
                    seen += 1
                    assert answer.status_code < 500, (method, path, query, answer.text)
                    if answer.status_code >= 400:
                        assert answer.headers["content-type"] == "application/problem+json"
    assert seen > 1000


@on_both_backends
def test_a_nul_in_an_id_or_cursor_is_refused_as_bad_input(api: Api) -> None:
    admin = api.token("admin")
    for path, params in (
        ("/v1/alerts/a%00", {}),
        ("/v1/alerts/forwarded", {"cursor": "a\x00"}),
        ("/v1/activations", {"device_id": "\x00"}),
    ):
        answer = api.get(admin, path, **params)
        assert answer.status_code == 400, (path, answer.text)
        assert "control character" in answer.json()["detail"]
    for cursor in (b64("GOOD-1\x00"), b64("x#²")):
        answer = api.get(admin, "/v1/verifications", cursor=cursor)
        assert answer.status_code == 400, answer.text
        assert answer.json()["title"] == "Invalid cursor"


@on_both_backends
def test_nul_characters_in_the_text_of_bodies_keep_nothing_and_get_no_500(api: Api) -> None:
    dsp, admin = api.token("dsp"), api.token("admin")
    request_id = f"{USER}:{esme_of('12')}:7"
    # An activation whose free text holds a NUL is one rejected item; the AD1 beside it is
    # decided (the group it was committed with did not fail).
    answer = api.post(
        dsp,
        [
            {**activation(esme_of("13"), 8), "firmware_hash": "ab\x00cd"},
            activation(esme_of("12"), 7),
            ad1("BESIDE-1", chf_of("12")),
        ],
    )
    assert answer.status_code == 200, answer.text
    outcomes = [item.get("outcome") or item.get("status") for item in answer.json()["items"]]
    assert outcomes[0] == "rejected", answer.text
    assert "control character" in answer.json()["items"][0]["error"]
    assert api.get(admin, "/v1/alerts/BESIDE-1").status_code == 200
    headers = {**api.auth(admin), "Content-Type": "application/json"}
    for method, path, body in (
        ("POST", f"/v1/windows/{request_id}/end", {"note": "x\x00y"}),
        ("POST", "/v1/tokens", {"role": "dno", "network_operators": ["12"], "description": "\x00"}),
        ("POST", "/v1/releases", {"alert_ids": ["BESIDE-1"], "note": "\x00"}),
        ("PUT", "/v1/config", {"window_minutes": 30, "suppression_enabled": "\x00"}),
    ):
        answer = api.client.request(method, path, json=body, headers=headers)
        assert 400 <= answer.status_code < 500, (path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    # The window was not ended: nothing of the refused request was kept.
    window = api.get(admin, "/v1/windows", open="true").json()["items"]
    assert [w["request_id"] for w in window] == [request_id]


@pytest.mark.fast
def test_an_id_of_non_ascii_digits_names_nothing() -> None:
    from poagate.formats.limits import MAX_ID, parse_id

    assert [parse_id(t) for t in ("²", "١٢", "12", "0", str(MAX_ID + 1), "", "-1", " 1")] == [
        None,
        None,
        12,
        0,
        None,
        None,
        None,
        None,
    ]


@on_both_backends
def test_a_rejected_line_holding_a_nul_is_kept_and_fails_nothing_beside_it(api: Api) -> None:
    dsp, admin = api.token("dsp"), api.token("admin")
    # A message line with a NUL byte (not JSON): rejected, kept, and the AD1 after it decided.
    good = orjson.dumps(ad1("AFTER-NUL", chf_of("12")))
    answer = api.post(dsp, b'{"type": "ad1", \x00}\n' + good, "application/x-ndjson")
    assert answer.status_code == 200, answer.text
    assert [i["outcome"] for i in answer.json()["items"]] == ["rejected", "forwarded"]
    # An inventory row with a NUL in its postcode: that row rejected, the others in force (forced:
    # one row of 28 is over the 1% of rejected rows a load may have, spec §17).
    body = fleet_csv().replace("SW1A 1AA", "SW1A\x00 1AA", 1)
    loaded = api.client.put(
        "/v1/reference/inventory?force=true",
        content=body,
        headers={**api.auth(admin), "Content-Type": "text/csv"},
    )
    assert loaded.status_code == 200, loaded.text
    assert (loaded.json()["rows_rejected"], loaded.json()["state"]) == (1, "in_force")
    assert "\x00" not in loaded.json()["rejected"][0]["raw"]


@pytest.mark.fast
def test_a_client_gone_before_its_body_arrived_is_no_error_and_keeps_nothing(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that closes its connection mid-body (wrk stopping, a DSP's client timing out)
    made the server log an error with a traceback (``ClientDisconnect`` out of the app, seen
    in a capacity run): it is the client's doing, so it is information, and nothing of the
    request is kept. The ASGI messages are what uvicorn hands the app when that happens."""
    token = api.token("dsp")
    whole = orjson.dumps(ad1(f"{USER}:gone:1", chf_of("10"), "2026-12-06T10:00:00Z"))
    messages = [
        {"type": "http.request", "body": whole[:40], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/messages",
        "raw_path": b"/v1/messages",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(whole)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    with open_store(api.database, "read") as store:
        before = store.counts()
    with caplog.at_level("INFO"):
        api.client.portal.call(api.client.app, scope, receive, send)  # type: ignore[union-attr]
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 400
    assert b"Request incomplete" in b"".join(m.get("body", b"") for m in sent[1:])
    assert "nothing of it was kept" in caplog.text
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    with open_store(api.database, "read") as store:
        assert store.counts() == before
    # and the next request on the same app is answered as ever
    assert api.post(token, ad1(f"{USER}:gone:1", chf_of("10"))).status_code == 200
