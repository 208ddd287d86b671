"""spec §13 sign-in: sessions in the store, their cookie, idle expiry, sign-out, revocation,
CSRF on every form that changes something, and the pages' security headers."""

from __future__ import annotations

import hashlib
import re
import time
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.testclient import TestClient

from poagate.api.app import create_app
from poagate.api.options import ServerOptions
from poagate.formats.timestamps import to_us
from poagate.service.access import new_token, token_sha256
from poagate.store.database import open_store
from tests.api_harness import Clock
from tests.console.conftest import Console, csrf_of
from tests.servers import two_servers
from tests.stores import on_both_backends

COOKIE = "poagate_console"


def test_a_wrong_token_gets_a_plain_message_and_no_session(console: Console) -> None:
    browser = console.browser()
    for token in ("pg_" + "x" * 43, "not-a-token", "", "pg_" + "y" * 5000):
        answer = browser.post("/ui/login", data={"token": token})
        assert answer.status_code == 401
        assert "That token is not valid" in answer.text
        assert "set-cookie" not in answer.headers
    assert browser.get("/ui/").headers["location"] == "/ui/login"
    with console.store() as store:
        assert store.db.scalar("SELECT COUNT(*) FROM console_sessions") == 0


def test_a_sign_in_form_posted_from_another_site_is_refused(console: Console) -> None:
    token = console.api.token("dno", "12")
    browser = console.browser()
    answer = browser.post(
        "/ui/login", data={"token": token}, headers={"Origin": "https://elsewhere.example"}
    )
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers
    own = browser.post("/ui/login", data={"token": token}, headers={"Origin": "http://testserver"})
    assert own.status_code == 303


def test_a_page_without_a_session_sends_to_sign_in(console: Console) -> None:
    browser = console.browser()
    for path in ("/ui/", "/ui/feed", "/ui/windows", "/ui/export.csv", "/ui/alerts/S-12-a"):
        answer = browser.get(path)
        assert (answer.status_code, answer.headers["location"]) == (303, "/ui/login")
    browser.cookies.set(COOKIE, "made-up", path="/ui")
    assert browser.get("/ui/").headers["location"] == "/ui/login?why=ended"


def test_the_session_cookie_is_httponly_strict_and_scoped_to_the_console(
    console: Console,
) -> None:
    token = console.api.token("dno", "12")
    answer = console.browser().post("/ui/login", data={"token": token})
    cookie = answer.headers["set-cookie"]
    assert answer.headers["location"] == "/ui/"
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/ui" in cookie
    assert "Secure" not in cookie  # over plain http the browser would drop it
    secure = console.browser("https://testserver").post("/ui/login", data={"token": token})
    assert "Secure" in secure.headers["set-cookie"]


def test_the_store_keeps_only_the_session_ids_sha256(console: Console) -> None:
    browser = console.dno("12")
    session_id = browser.cookies[COOKIE]
    with console.store() as store:
        rows = store.db.fetch("SELECT id_sha256, csrf_secret FROM console_sessions")
    assert len(rows) == 1
    assert rows[0][0] == hashlib.sha256(session_id.encode()).hexdigest()
    assert session_id not in rows[0]
    assert csrf_of(browser) == rows[0][1]  # the forms carry the session's CSRF token


def test_sign_out_ends_the_session_in_the_store(console: Console) -> None:
    browser = console.dno("12")
    session_id = browser.cookies[COOKIE]
    answer = browser.post("/ui/logout", data={"csrf": csrf_of(browser)})
    assert answer.headers["location"] == "/ui/login?why=signed-out"
    assert "You are signed out" in browser.get("/ui/login?why=signed-out").text
    # The old cookie, replayed, no longer opens a page.
    replay = console.browser()
    replay.cookies.set(COOKIE, session_id, path="/ui")
    assert replay.get("/ui/").headers["location"] == "/ui/login?why=ended"


def test_a_session_ends_after_eight_hours_idle(console: Console, clock: Clock) -> None:
    browser = console.dno("12")
    session_id = browser.cookies[COOKIE]
    clock.advance(hours=7, minutes=59)
    assert browser.get("/ui/").status_code == 200  # used: idle time starts again
    clock.advance(hours=3, minutes=59)  # (within the session's 12-hour lifetime)
    assert browser.get("/ui/").status_code == 200
    clock.advance(hours=8)
    answer = browser.get("/ui/")
    assert answer.headers["location"] == "/ui/login?why=expired"
    assert "Your session ended after 8 hours" in browser.get(answer.headers["location"]).text
    # The expired session is ended in the store: its cookie, replayed, opens nothing.
    replay = console.browser()
    replay.cookies.set(COOKIE, session_id, path="/ui")
    clock.advance(minutes=-30)  # even at a time when it would not have been idle for long
    assert replay.get("/ui/").headers["location"] == "/ui/login?why=ended"


def test_use_is_written_at_most_once_a_minute(console: Console, clock: Clock) -> None:
    browser = console.dno("12")
    started = clock()

    def last_seen() -> int:
        with console.store() as store:
            return int(store.db.scalar("SELECT last_seen_at FROM console_sessions"))

    clock.advance(seconds=30)
    browser.get("/ui/")
    assert last_seen() == to_us(started)
    clock.advance(seconds=31)
    browser.get("/ui/")
    assert last_seen() == to_us(clock())


def test_revoking_the_token_ends_its_sessions(console: Console) -> None:
    admin = console.api.token("admin")
    browser = console.sign_in(console.api.token("dno", "12"))
    with console.store() as store:
        token_id = store.db.scalar("SELECT token_id FROM console_sessions")
    assert browser.get("/ui/").status_code == 200
    revoked = console.api.client.delete(f"/v1/tokens/{token_id}", headers=console.api.auth(admin))
    assert revoked.status_code == 200
    assert browser.get("/ui/").headers["location"] == "/ui/login?why=ended"


def test_revocation_is_honoured_within_the_token_caches_two_seconds(
    console: Console,
) -> None:
    """With the API's cache of 2 s (the default), a revoked token's session ends within it."""
    settings = ServerOptions(database=console.api.database, deliveries=False)
    assert settings.token_cache_seconds == 2.0
    token = console.api.token("dno", "12")
    with TestClient(create_app(settings), follow_redirects=False) as browser:
        assert browser.post("/ui/login", data={"token": token}).status_code == 303
        assert browser.get("/ui/").status_code == 200  # the token is now in the cache
        with console.store() as store:
            token_id = store.db.scalar("SELECT token_id FROM console_sessions")
        admin = console.api.token("admin")
        console.api.client.delete(f"/v1/tokens/{token_id}", headers=console.api.auth(admin))
        revoked_at = time.monotonic()
        while (answer := browser.get("/ui/")).status_code == 200:
            assert time.monotonic() - revoked_at < 2.5
            time.sleep(0.1)
        assert answer.headers["location"] == "/ui/login?why=ended"


def test_a_session_started_on_one_server_process_works_on_another(console: Console) -> None:
    browser = console.dno("12")
    settings = ServerOptions(
        database=console.api.database, deliveries=False, clock=console.api.clock
    )
    other = create_app(settings)
    with TestClient(other, follow_redirects=False) as second:
        second.cookies.set(COOKIE, browser.cookies[COOKIE], path="/ui")
        page = second.get("/ui/")
        assert page.status_code == 200
        assert 'data-alert-id="S-12-a"' in page.text
        # Signed out on the second, it is ended on the first too.
        second.post("/ui/logout", data={"csrf": csrf_of(second)})
    assert browser.get("/ui/").headers["location"] == "/ui/login?why=ended"


def test_a_dsp_token_is_told_the_console_is_not_for_it(console: Console) -> None:
    answer = console.browser().post("/ui/login", data={"token": console.api.token("dsp")})
    assert answer.status_code == 403
    assert "for DNOs and DCC operations" in answer.text
    assert "set-cookie" not in answer.headers
    assert "S-12" not in answer.text
    assert "F-1" not in answer.text


@pytest.mark.parametrize(
    "path",
    ["/ui/", "/ui/login", "/ui/feed", "/ui/windows", "/ui/alerts/S-12-a", "/ui/alerts/nope"],
)
def test_every_page_forbids_other_hosts_and_framing(console: Console, path: str) -> None:
    answer = console.admin().get(path)
    policy = answer.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    # No address of another host in the page (the SVG namespace is a name, not fetched).
    text = answer.text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "http://" not in text
    assert "https://" not in text


def test_the_console_is_not_in_the_openapi_description(console: Console) -> None:
    paths = console.api.client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/ui")]


@on_both_backends
def test_a_session_works_across_two_poagate_serve_processes(database: str) -> None:
    """Two real server processes on one store: signed in on one, the session opens pages on
    the other; signed out on the other, it is ended on the first."""
    token = new_token()
    with open_store(database, "service") as store:
        store.tokens.add(token_sha256(token), "dno", ["12"], "", datetime.now(UTC), "test")
    with two_servers(database) as (first, second):
        signed_in = httpx.post(f"{first.url}/ui/login", data={"token": token})
        assert signed_in.status_code == 303
        cookies = {COOKIE: signed_in.cookies[COOKIE]}
        page = httpx.get(f"{second.url}/ui/", cookies=cookies)
        assert page.status_code == 200
        assert "DNO 12" in page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        out = httpx.post(f"{second.url}/ui/logout", data={"csrf": csrf.group(1)}, cookies=cookies)
        assert out.status_code == 303
        after = httpx.get(f"{first.url}/ui/", cookies=cookies)
        assert (after.status_code, after.headers["location"]) == (303, "/ui/login?why=ended")
