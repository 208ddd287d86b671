"""DCC operations' acts in the console (spec §12 through §13): each changes the store as the
API's does, is audited with the session's token as the actor, and is refused (403, nothing
done) without the session's CSRF token."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from poagate.store.database import open_store
from poagate.store.outbox import OutboundMessage
from tests.api_harness import chf_of, esme_of
from tests.console.conftest import SUPPRESSED, Console, alert_ids, csrf_of
from tests.helpers import USER

COOKIE = "poagate_console"


def actor_of(console: Console, browser: TestClient) -> str:
    digest = hashlib.sha256(browser.cookies[COOKIE].encode()).hexdigest()
    with console.store() as store:
        token_id = store.db.scalar(
            "SELECT token_id FROM console_sessions WHERE id_sha256 = ?", (digest,)
        )
    return f"token {token_id} (admin)"


def released(console: Console) -> dict[str, tuple[str | None, str | None]]:
    """alert_id → (release_reason, released_by) of every Suppression Log entry."""
    with console.store() as store:
        rows = store.db.fetch(
            "SELECT alert_id, release_reason, released_by FROM ad1_outcomes WHERE suppressed = 1"
        )
    return {r[0]: (r[1], r[2]) for r in rows}


def last_audit(console: Console) -> Any:
    return console.audit()[-1]


def test_release_selected_entries(console: Console) -> None:
    browser = console.admin()
    csrf = csrf_of(browser)
    answer = browser.post(
        "/ui/release",
        data={"csrf": csrf, "alert_id": ["S-12-a", "S-13-a"], "note": "storm", "back": "/ui/"},
    )
    assert answer.status_code == 200, answer.text
    assert "Released 2 entries" in answer.text
    actor = actor_of(console, browser)
    assert released(console) == {
        "S-12-a": ("operator", actor),
        "S-12-b": (None, None),
        "S-13-a": ("operator", actor),
    }
    entry = last_audit(console)
    assert (entry.action, entry.actor) == ("release", actor)
    assert entry.detail["alert_ids"] == ["S-12-a", "S-13-a"]
    assert entry.detail["note"] == "storm"
    # It reaches the DNO as a guard's release does: in its feed, and shown as released.
    assert "S-12-a" in alert_ids(console.dno("12").get("/ui/feed").text)
    assert alert_ids(browser.get("/ui/?released=true").text) == {"S-12-a", "S-13-a"}


def test_release_a_hubs_entries(console: Console) -> None:
    browser = console.admin()
    answer = browser.post("/ui/release", data={"csrf": csrf_of(browser), "chf_id": chf_of("12")})
    assert "Released 2 entries" in answer.text
    assert {a for a, (reason, _) in released(console).items() if reason} == set(SUPPRESSED["12"])
    assert last_audit(console).detail["chf_id"] == chf_of("12")


def test_release_a_dnos_range(console: Console) -> None:
    browser = console.admin()
    data = {
        "csrf": csrf_of(browser),
        "network_operator": "13",
        "from": "2026-03-01T00:00:00Z",
        "to": "2026-03-02T00:00:00Z",
    }
    assert "Released 1 entries" in browser.post("/ui/release", data=data).text
    assert {a for a, (reason, _) in released(console).items() if reason} == {"S-13-a"}
    detail = last_audit(console).detail
    assert (detail["network_operator"], detail["released"]) == ("13", 1)


def test_a_release_named_no_way_or_badly_is_refused_with_its_reason(console: Console) -> None:
    browser = console.admin()
    csrf = csrf_of(browser)
    before = len(console.audit())
    for data, words in (
        ({}, "name the entries one way"),
        ({"network_operator": "13"}, "needs both from and to"),
        ({"chf_id": "not-a-hub"}, ""),
        ({"network_operator": "13", "from": "x", "to": "y"}, "from"),
    ):
        answer = browser.post("/ui/release", data={"csrf": csrf, **data})
        assert answer.status_code in (400, 422), data
        assert words in answer.text
    assert len(console.audit()) == before
    assert not any(reason for reason, _ in released(console).values())


def test_end_a_window(console: Console) -> None:
    browser = console.admin()
    request_id = f"{USER}:{esme_of('12')}:1"
    windows = browser.get("/ui/windows").text
    assert f'data-request-id="{request_id}"' in windows
    answer = browser.post(
        "/ui/windows/end",
        data={"csrf": csrf_of(browser), "request_id": request_id, "note": "done"},
    )
    assert answer.status_code == 200, answer.text
    assert "Window ended" in answer.text
    with console.store() as store:
        window = store.activations.window(request_id)
    assert window is not None
    assert window.activation.ended_at == console.api.clock()
    assert window.ended_by == actor_of(console, browser)
    entry = last_audit(console)
    assert (entry.action, entry.detail["request_id"]) == ("window.end", request_id)
    assert f'data-request-id="{request_id}"' not in browser.get("/ui/windows").text
    again = browser.post(
        "/ui/windows/end", data={"csrf": csrf_of(browser), "request_id": request_id}
    )
    assert again.status_code == 409


def test_suspend_and_resume_with_the_state_on_every_page(console: Console) -> None:
    browser = console.admin()
    assert 'data-suppression="enabled"' in browser.get("/ui/windows").text
    answer = browser.post(
        "/ui/suppression",
        data={
            "csrf": csrf_of(browser),
            "enabled": "false",
            "note": "incident",
            "back": "/ui/audit",
        },
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/ui/audit")
    with console.store() as store:
        assert store.reference.config().suppression_enabled is False
    entry = last_audit(console)
    assert (entry.action, entry.actor) == ("suppression.suspend", actor_of(console, browser))
    for path in ("/ui/", "/ui/feed", "/ui/windows", "/ui/deliveries", "/ui/reference",
                 "/ui/config", "/ui/audit", "/ui/alerts/S-12-a"):  # fmt: skip
        page = browser.get(path).text
        assert 'data-suppression="suspended"' in page, path
        assert "Resume suppression" in page
    # A DNO does not see the switch.
    assert "data-suppression" not in console.dno("12").get("/ui/").text
    browser.post("/ui/suppression", data={"csrf": csrf_of(browser), "enabled": "true"})
    with console.store() as store:
        assert store.reference.config().suppression_enabled is True
    assert last_audit(console).action == "suppression.resume"


def dead_delivery(console: Console) -> int:
    """A forwarded AD1's message its DNO's webhook refused until the worker gave up."""
    with open_store(console.api.database, "service") as store:
        now = console.api.clock()
        store.outbox.enqueue(
            [OutboundMessage("F-12", "12", chf_of("12"), "application/json", b"{}", "pending")],
            now,
        )
        (claimed,) = store.outbox.claim(now, timedelta(seconds=30), 10)
        store.outbox.failed(claimed.id, "HTTP 500", None)
        return claimed.id


def test_retry_a_dead_delivery(console: Console) -> None:
    delivery = dead_delivery(console)
    browser = console.admin()
    page = browser.get("/ui/deliveries").text
    assert f'data-delivery-id="{delivery}"' in page
    assert "HTTP 500" in page
    answer = browser.post(
        "/ui/deliveries/retry", data={"csrf": csrf_of(browser), "delivery_id": str(delivery)}
    )
    assert answer.status_code == 200, answer.text
    with console.store() as store:
        (state,) = store.outbox.listing("pending", 0, 10)
    assert state.id == delivery
    entry = last_audit(console)
    assert (entry.action, entry.detail) == ("delivery.retry", {"delivery": delivery})
    assert f'data-delivery-id="{delivery}"' not in browser.get("/ui/deliveries").text
    again = browser.post(
        "/ui/deliveries/retry", data={"csrf": csrf_of(browser), "delivery_id": str(delivery)}
    )
    assert again.status_code == 404


FORMS = {
    "release": ("/ui/release", {"alert_id": "S-12-a"}),
    "end": ("/ui/windows/end", {"request_id": f"{USER}:{esme_of('12')}:1"}),
    "suspend": ("/ui/suppression", {"enabled": "false"}),
    "retry": ("/ui/deliveries/retry", {"delivery_id": "1"}),
    "sign-out": ("/ui/logout", {}),
}


@pytest.mark.parametrize("form", FORMS)
def test_a_form_without_the_sessions_csrf_token_is_refused_and_does_nothing(
    console: Console, form: str
) -> None:
    path, data = FORMS[form]
    dead_delivery(console)
    browser = console.admin()
    other = console.admin()  # another session's token is no better than none
    before = (console.audit(), released(console))
    for csrf in (None, "", "wrong", csrf_of(other)):
        sent = data if csrf is None else {**data, "csrf": csrf}
        answer = browser.post(path, data=sent)
        assert answer.status_code == 403, (csrf, answer.text)
        assert "nothing was done" in answer.text
    assert (console.audit(), released(console)) == before
    with console.store() as store:
        assert store.reference.config().suppression_enabled is True
        assert store.activations.window(f"{USER}:{esme_of('12')}:1").activation.ended_at is None  # type: ignore[union-attr]
        assert [d.status for d in store.outbox.listing("dead", 0, 10)] == ["dead"]
    assert browser.get("/ui/").status_code == 200  # still signed in
    # With the token, the same form does its act.
    answer = browser.post(path, data={**data, "csrf": csrf_of(browser)})
    assert answer.status_code in (200, 303)
    assert console.audit() != before[0] or form == "sign-out"


@pytest.mark.parametrize("form", [f for f in FORMS if f != "sign-out"])
def test_a_dno_session_cannot_act(console: Console, form: str) -> None:
    path, data = FORMS[form]
    browser = console.dno("12")
    before = console.audit()
    answer = browser.post(path, data={**data, "csrf": csrf_of(browser)})
    assert answer.status_code == 403
    assert console.audit() == before
