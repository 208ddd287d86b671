"""The incident controls with two real ``poagate serve`` processes on one database: an act
through one server is honoured by the other's next decision, and two servers releasing the
same entries at once release each once."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from tests.api_harness import ad1, chf_of, esme_of
from tests.helpers import USER
from tests.servers import Server, post
from tests.stores import on_both_backends

pytestmark = [pytest.mark.slow, on_both_backends]  # several processes on one store


def call(server: Server, token: str, method: str, path: str, body: Any = None) -> Any:
    answer = httpx.request(
        method,
        f"{server.url}{path}",
        json=body,
        timeout=30,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def outcome(server: Server, dsp: str, event: dict[str, Any]) -> tuple[str, str]:
    item = post(server.url, dsp, event)["items"][0]
    return item["outcome"], item.get("reason", "")


def test_an_act_through_one_server_is_honoured_by_the_other(
    two_servers: tuple[Server, Server], token_for: Any
) -> None:
    first, second = two_servers
    admin, dsp = token_for("admin"), token_for("dsp")
    request_id = f"{USER}:{esme_of('12')}:1"
    assert outcome(first, dsp, {"type": "activation", "request_id": request_id})[0] == "recorded"

    call(second, admin, "PUT", "/v1/config", {"suppression_enabled": False})
    assert outcome(first, dsp, ad1("A1", chf_of("12"))) == ("forwarded", "suppression_suspended")
    call(second, admin, "PUT", "/v1/config", {"suppression_enabled": True})
    assert outcome(first, dsp, ad1("A2", chf_of("12"))) == ("suppressed", "")

    released = call(first, admin, "POST", "/v1/releases", {"alert_ids": ["A2"]})
    assert released["released"] == 1
    dno = token_for("dno", "12")
    feed = call(second, dno, "GET", "/v1/alerts/forwarded")["items"]
    assert [(f["alert_id"], f["release_reason"] or f["reason"]) for f in feed] == [
        ("A1", "suppression_suspended"),
        ("A2", "operator"),
    ]

    call(second, admin, "POST", f"/v1/windows/{request_id}/end")
    assert outcome(first, dsp, ad1("A3", chf_of("12"))) == ("forwarded", "no_active_window")
    assert call(first, admin, "GET", "/v1/windows")["items"] == []


def test_two_servers_releasing_the_same_entries_at_once_release_each_once(
    two_servers: tuple[Server, Server], token_for: Any
) -> None:
    first, second = two_servers
    admin, dsp = token_for("admin"), token_for("dsp")
    post(first.url, dsp, {"type": "activation", "request_id": f"{USER}:{esme_of('13')}:1"})
    for n in range(40):
        assert outcome(first, dsp, ad1(f"R{n}", chf_of("13")))[0] == "suppressed"
    barrier = threading.Barrier(2)
    answers: list[dict[str, Any]] = []

    def release(server: Server) -> None:
        barrier.wait(timeout=10)
        answers.append(call(server, admin, "POST", "/v1/releases", {"chf_id": chf_of("13")}))

    threads = [threading.Thread(target=release, args=(s,)) for s in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a["released"] for a in answers) == [0, 40]
    assert sorted(a["already_released"] for a in answers) == [0, 40]
    dno = token_for("dno", "13")
    feed = call(second, dno, "GET", "/v1/alerts/forwarded?limit=1000")["items"]
    assert sorted(f["alert_id"] for f in feed) == sorted(f"R{n}" for n in range(40))
