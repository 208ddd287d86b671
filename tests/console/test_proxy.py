"""The console behind a TLS proxy (docs/security.md "Running behind a proxy"): sign-in from the
public origin while the proxy sends another Host on, a Secure cookie when the browser is on
https, the proxies whose X-Forwarded-Proto is believed, and a session's absolute lifetime."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi.testclient import TestClient

from poagate.api.options import origin_of
from poagate.service.access import new_token, token_sha256
from poagate.store.database import open_store
from tests.api_harness import Clock, make_api
from tests.console.conftest import Console
from tests.servers import Server

COOKIE = "poagate_console"
PUBLIC = "https://poagate.example.org"
INTERNAL = "http://poagate-internal:8000"  # the Host a proxy sends on


def sign_in(app: object, token: str, origin: str) -> httpx.Response:
    browser = TestClient(app, base_url=INTERNAL, follow_redirects=False)  # type: ignore[arg-type]
    return browser.post("/ui/login", data={"token": token}, headers={"Origin": origin})


def test_sign_in_through_a_proxy_that_rewrites_host_needs_the_public_origin(
    console: Console, database: str, clock: Clock
) -> None:
    token = console.api.token("dno", "12")
    # Not told its public origin, poagate cannot tell the proxy's Host from another site's.
    assert sign_in(console.api.client.app, token, PUBLIC).status_code == 403
    for api in make_api(database, clock, public_origins=(PUBLIC,)):
        answer = sign_in(api.client.app, token, PUBLIC)
        assert (answer.status_code, answer.headers["location"]) == (303, "/ui/")
        cookie = answer.headers["set-cookie"]
        assert "Secure" in cookie  # the browser is on https, whatever the proxy speaks on
        assert "HttpOnly" in cookie
        assert sign_in(api.client.app, token, "https://poagate.example.org:443").status_code == 303
        # Another site, or the public name over plain http, is still refused.
        for origin in ("https://elsewhere.example", "http://poagate.example.org", "null"):
            refused = sign_in(api.client.app, token, origin)
            assert refused.status_code == 403, origin
            assert "set-cookie" not in refused.headers


def test_a_session_ends_at_its_lifetime_however_busy(console: Console, clock: Clock) -> None:
    browser = console.dno("12")
    session_id = browser.cookies[COOKIE]
    for _ in range(11):
        clock.advance(hours=1)
        assert browser.get("/ui/").status_code == 200  # in use all along: never idle
    clock.advance(minutes=59)
    assert browser.get("/ui/").status_code == 200
    clock.advance(minutes=1)  # 12 hours after sign-in
    answer = browser.get("/ui/")
    assert answer.headers["location"] == "/ui/login?why=lifetime"
    assert "12 hours after sign-in" in browser.get(answer.headers["location"]).text
    # Ended in the store: its cookie, replayed earlier in its life, opens nothing.
    replay = console.browser()
    replay.cookies.set(COOKIE, session_id, path="/ui")
    clock.advance(minutes=-30)
    assert replay.get("/ui/").headers["location"] == "/ui/login?why=ended"


@pytest.mark.parametrize(
    ("given", "origin"),
    [
        ("https://Poagate.Example.org/", PUBLIC),
        ("https://poagate.example.org:443", PUBLIC),
        ("http://10.0.0.5:8080", "http://10.0.0.5:8080"),
    ],
)
@pytest.mark.fast
def test_a_public_origin_is_compared_as_browsers_send_it(given: str, origin: str) -> None:
    assert origin_of(given) == origin


@pytest.mark.parametrize("given", ["poagate.example.org", "https://p.example/ui", "ftp://p"])
@pytest.mark.fast
def test_what_is_not_an_origin_is_refused(given: str) -> None:
    with pytest.raises(ValueError, match="is not an origin"):
        origin_of(given)


def test_poagate_serve_behind_a_proxy_on_another_host(database: str) -> None:
    """A real ``poagate serve`` given a proxy that is not this test's address: the proxy's
    ``X-Forwarded-Proto`` is not believed from anyone else (uvicorn's own default would have
    believed 127.0.0.1), while a browser on the public https origin, through a proxy that
    rewrote ``Host``, signs in and gets a Secure cookie."""
    token = new_token()
    with open_store(database, "service") as store:
        store.tokens.add(token_sha256(token), "dno", ["12"], "", datetime.now(UTC), "test")
    args = ("--forwarded-allow-ips", "10.9.9.9", "--public-origin", PUBLIC)
    server = Server(database, args=args)
    try:
        url = f"{server.url}/ui/login"
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.7"}
        spoofed = httpx.post(url, data={"token": token}, headers=forwarded)
        assert spoofed.status_code == 303, spoofed.text
        assert "Secure" not in spoofed.headers["set-cookie"]  # not from a proxy it was given
        proxied = {"Host": "poagate-internal:8000", "Origin": PUBLIC}
        browser = httpx.post(url, data={"token": token}, headers=proxied)
        assert browser.status_code == 303, browser.text
        assert "Secure" in browser.headers["set-cookie"]
        elsewhere = {"Host": "poagate-internal:8000", "Origin": "https://elsewhere.example"}
        assert httpx.post(url, data={"token": token}, headers=elsewhere).status_code == 403
    finally:
        server.stop()


@pytest.mark.fast
def test_serve_refuses_a_public_origin_that_is_not_one_before_starting() -> None:
    from typer.testing import CliRunner

    from poagate.cli import app

    result = CliRunner().invoke(
        app, ["serve", "--database", "sqlite:////nonexistent/x.db", "--public-origin", "p.example"]
    )
    assert result.exit_code == 2
    assert "--public-origin" in result.output
    assert "is not an origin" in result.output
