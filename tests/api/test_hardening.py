"""Hardening (docs/security.md): what a careless or hostile client can send, and what it must
not achieve — stopping the service, failing other input, or seeing another DNO's data."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import orjson
import psycopg
import pytest

from poagate.api.tokens import Principal, TokenCache
from poagate.domain.events import Activation
from poagate.formats.limits import MAX_LINES_PER_REQUEST
from poagate.service.ingest import Ingestor, Item
from poagate.store.database import open_store
from tests.api_harness import USER, Api, ad1, chf_of, cursor_of, esme_of
from tests.helpers import ts
from tests.stores import on_both_backends

GOOD = ad1("GOOD-1", chf_of("12"))


def pool_is_whole(api: Api) -> None:
    """Every read connection opened is idle again: none was lost on an error path."""
    reads = api.client.app.state.context.reads  # type: ignore[attr-defined]
    assert reads.opened <= reads.size
    assert reads.idle == reads.opened


# -- 1. resources are returned on every path -------------------------------------------------


@on_both_backends  # the read pool's connections
def test_error_paths_hammered_leave_the_read_pool_whole(api: Api) -> None:
    dsp, dno, admin = api.token("dsp"), api.token("dno", "12"), api.token("admin")
    api.post(dsp, [GOOD, ad1("OTHER-13", chf_of("13"))])
    reads = api.client.app.state.context.reads  # type: ignore[attr-defined]
    failing = [
        (dno, "/v1/suppression-log", {"cursor": cursor_of("NO-SUCH-ALERT")}, 400),
        (dno, "/v1/alerts/forwarded", {"cursor": cursor_of("OTHER-13")}, 400),  # not its own
        (dno, "/v1/alerts/forwarded", {"cursor": "é"}, 400),  # not ASCII
        (dno, "/v1/alerts/forwarded", {"cursor": "!!!"}, 400),  # not base64
        (dno, "/v1/alerts/forwarded", {"cursor": cursor_of("x") * 200}, 400),  # too long
        (admin, "/v1/activations", {"cursor": cursor_of("NO-SUCH")}, 400),
        (admin, "/v1/alerts/unrouted", {"cursor": cursor_of("NO-SUCH")}, 400),
        (dno, "/v1/suppression-log", {"from": "yesterday"}, 422),
        (dno, "/v1/activations", {}, 403),
        ("pg_made-up", "/v1/summary", {}, 401),
    ]
    for _ in range(3 * reads.size):
        for token, path, params, status in failing:
            answer = api.get(token, path, **params)
            assert answer.status_code == status, (path, params, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
    pool_is_whole(api)
    # And everything still answers: reads, token look-ups, the DSP's posts.
    assert api.get(dno, "/v1/alerts/forwarded").json()["items"][0]["alert_id"] == "GOOD-1"
    assert api.post(dsp, ad1("AFTER", chf_of("12"))).status_code == 200
    assert api.client.get("/readyz").status_code == 200


# -- 5. bad input is a rejected item, never a 500 nor a failed batch ---------------------------

BAD_LINES: list[tuple[str, dict[str, Any] | bytes]] = [
    (
        "5000-digit counter",
        {"type": "activation", "request_id": f"{USER}:{esme_of('12')}:{'9' * 5000}"},
    ),
    (
        "counter over 64 bits",
        {"type": "activation", "request_id": f"{USER}:{esme_of('12')}:{'9' * 40}"},
    ),
    (
        "before the calendar",
        {**ad1("EDGE-1", chf_of("12")), "event_at": "0001-01-01T00:00:00+01:00"},
    ),
    ("after the calendar", {**ad1("EDGE-2", chf_of("12")), "event_at": "9999-12-31T23:45:00Z"}),
    ("CR/LF in alert_id", ad1("CRLF\r\nX: 1", chf_of("12"))),
    ("non-ASCII alert_id", ad1("ÄD1", chf_of("12"))),
    ("megabyte chf_id", ad1("BIG", "0" * 1_000_000)),
    ("not JSON", b"{oops"),
]


@pytest.mark.parametrize(("what", "bad"), BAD_LINES, ids=[w for w, _ in BAD_LINES])
def test_a_bad_line_is_rejected_and_the_good_ad1_beside_it_is_kept(
    api: Api, what: str, bad: dict[str, Any] | bytes
) -> None:
    dsp, dno = api.token("dsp"), api.token("dno", "12")
    lines = [orjson.dumps(GOOD), bad if isinstance(bad, bytes) else orjson.dumps(bad)]
    answer = api.post(dsp, b"\n".join(lines), "application/x-ndjson")
    assert answer.status_code == 200, answer.text
    assert len(answer.content) < 4_000  # the bad input is not echoed back
    items = answer.json()["items"]
    assert items[0]["outcome"] == "forwarded"
    assert items[1]["outcome"] == "rejected"
    assert len(items[1]["error"]) <= 512
    assert [a["alert_id"] for a in api.get(dno, "/v1/alerts/forwarded").json()["items"]] == [
        "GOOD-1"
    ]
    with open_store(api.database, "read") as store:
        ((_, rejection),) = list(store.inputs.rejected())
    assert rejection.line == 2
    assert len(rejection.error) <= 512
    assert len(rejection.raw) <= 4096


def test_a_duis_response_id_of_half_a_million_characters_is_rejected(api: Api) -> None:
    from poagate.sim import duis

    answer = api.post(
        api.token("dsp"), duis.ad1_alert("R" * 500_000, chf_of("12"), None), "text/xml"
    )
    assert answer.status_code == 200
    (item,) = answer.json()["items"]
    assert item["outcome"] == "rejected"
    assert "500,000 characters" in item["error"]


def test_more_lines_than_a_request_may_hold_are_refused_whole(api: Api) -> None:
    body = b"{}\n" * (MAX_LINES_PER_REQUEST + 1)
    answer = api.post(api.token("dsp"), body, "application/x-ndjson")
    assert answer.status_code == 413
    assert "at most 20,000" in answer.json()["detail"]
    with open_store(api.database, "read") as store:
        assert store.counts()["events_rejected"] == 0  # nothing of it was kept


def test_one_item_that_cannot_be_decided_fails_neither_its_request_nor_the_others(
    api: Api,
) -> None:
    """An item the parsers would refuse, built by hand (as a bug in a later layer would let
    through): an eligible immediate activation whose window leaves the calendar."""
    database = api.database
    ingestor = Ingestor(lambda: open_store(database, "service"), lambda: ts("2026-03-01T10:00Z"))
    ingestor.start()
    try:
        overflowing = Activation(
            request_id=f"{USER}:{esme_of('12')}:1",
            originator=USER,
            device_id=esme_of("12"),
            received_at=datetime.max.replace(tzinfo=ts("2026-03-01T10:00Z").tzinfo),
        )
        from poagate.formats.jsonl import parse_event

        def good(alert_id: str, position: int) -> Item:
            event = parse_event({**ad1(alert_id, chf_of("12")), "received_at": "2026-03-01T10:00Z"})
            return Item(position, event, raw=b"{}")

        async def both() -> tuple[Any, Any]:
            first = ingestor.submit("one", [good("G-1", 1), Item(2, overflowing, raw=b"x")])
            second = ingestor.submit("two", [good("G-2", 1)])
            return await asyncio.gather(first, second)

        first, second = asyncio.run(both())
    finally:
        ingestor.stop()
    assert [r.outcome is not None for r in first] == [True, False]
    assert "could not decide" in (first[1].error or "")
    assert second[0].outcome is not None
    with open_store(database, "read") as store:
        counts = store.counts()
        rejected = [r for _, r in store.inputs.rejected()]
    assert counts["ad1_forwarded"] == 2
    assert [(r.source, r.line) for r in rejected] == [("one", 2)]


# -- 4. what each role sees of operations -----------------------------------------------------


def test_metrics_need_an_admin_token(api: Api) -> None:
    assert api.client.get("/metrics").status_code == 401
    assert api.get(api.token("dno", "12"), "/metrics").status_code == 403
    assert api.get(api.token("dsp"), "/metrics").status_code == 403
    assert api.get(api.token("admin"), "/metrics").status_code == 200


# -- 9. an AD1 no DNO receives is visible to DCC operations -----------------------------------

UNKNOWN_HUB = "00-15-7B-FF-FF-FF-FF-FF"


def test_an_ad1_of_a_hub_not_in_the_inventory_is_listed_counted_and_measured(api: Api) -> None:
    dsp, admin = api.token("dsp"), api.token("admin")
    answer = api.post(dsp, [ad1("LOST-1", UNKNOWN_HUB), GOOD])
    assert [i["network_operator"] for i in answer.json()["items"]] == ["", "12"]
    listed = api.get(admin, "/v1/alerts/unrouted").json()["items"]
    assert [a["alert_id"] for a in listed] == ["LOST-1"]
    assert api.get(admin, "/v1/summary").json()["ad1_unrouted"] == 1
    metrics = api.get(admin, "/metrics").text
    assert "poagate_ad1_unrouted 1.0" in metrics
    for dno in (api.token("dno", "12"), api.token("dno", "10")):
        assert api.get(dno, "/v1/alerts/unrouted").status_code == 403
        assert "LOST-1" not in api.get(dno, "/v1/alerts/forwarded").text
        assert "unrouted" not in api.get(dno, "/v1/summary").text


# -- 8. webhook URLs and secrets --------------------------------------------------------------


def put_webhook(api: Api, admin: str, url: str, secret: str | None = "s" * 20) -> Any:
    hook: dict[str, Any] = {"url": url}
    if secret is not None:
        hook["secret"] = secret
    return api.client.put(
        "/v1/config", json={"delivery": {"webhooks": {"12": hook}}}, headers=api.auth(admin)
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/hook",
        "http://[::ffff:169.254.169.254]/",
        "http://0xa9fea9fe/",  # 169.254.169.254 spelled as the resolver reads it
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://100.100.100.200/",
        "http://[fd00:ec2::254]/",
        "http://[::1/",  # httpx cannot read it
        "http://dno.example/a b",
        "gopher://dno.example/",
    ],
)
def test_webhook_urls_poagate_must_not_call_are_refused(api: Api, url: str) -> None:
    answer = put_webhook(api, api.token("admin"), url)
    assert answer.status_code == 422, answer.text
    assert "delivery.webhooks.12.url" in answer.json()["detail"]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "https://dno.example:8443/h"]
)
def test_loopback_private_and_public_receivers_are_allowed(api: Api, url: str) -> None:
    assert put_webhook(api, api.token("admin"), url).status_code == 200


def test_a_password_in_a_webhook_url_is_never_shown_and_masked_form_keeps_it(api: Api) -> None:
    admin = api.token("admin")
    assert put_webhook(api, admin, "https://dno:hunter2-hunter2@dno.example/h").status_code == 200
    shown = api.get(admin, "/v1/config").json()["delivery"]["webhooks"]["12"]
    assert shown["url"] == "https://dno:***@dno.example/h"
    assert (shown["secret"], shown["secret_set"]) == (None, True)
    audit = api.get(admin, "/v1/audit").text
    assert "hunter2" not in audit
    assert "s" * 20 not in audit
    # Sending back what GET showed keeps the stored password and secret.
    again = put_webhook(api, admin, shown["url"], secret=None)
    assert again.status_code == 200
    assert again.json()["changed"] is False
    with open_store(api.database, "read") as store:
        stored = store.reference.settings().model_dump(mode="json")["delivery"]["webhooks"]["12"]
    assert stored["url"] == "https://dno:hunter2-hunter2@dno.example/h"
    moved = put_webhook(api, admin, "https://dno:***@elsewhere.example/h", secret=None)
    assert moved.status_code == 422
    assert "send the password" in moved.json()["detail"]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://tok-hunter2@dno.example/h", "https://***@dno.example/h"),
        ("https://dno.example/h?key=hunter2&dno=12", "https://dno.example/h?key=***&dno=***"),
    ],
)
def test_a_credential_in_a_webhook_urls_user_name_or_query_is_never_shown(
    api: Api, url: str, shown: str
) -> None:
    admin = api.token("admin")
    assert put_webhook(api, admin, url).status_code == 200
    assert api.get(admin, "/v1/config").json()["delivery"]["webhooks"]["12"]["url"] == shown
    assert "hunter2" not in api.get(admin, "/v1/audit").text
    # Sent back as shown, it keeps the stored URL.
    assert put_webhook(api, admin, shown, secret=None).json()["changed"] is False
    with open_store(api.database, "read") as store:
        assert store.reference.settings().delivery.webhooks["12"].url == url


def test_a_new_secret_starts_a_rotation_with_the_old_one_still_signing(api: Api) -> None:
    admin = api.token("admin")
    put_webhook(api, admin, "http://127.0.0.1:9/h", secret="first-secret-of-16+")
    put_webhook(api, admin, "http://127.0.0.1:9/h", secret="second-secret-of-16+")
    with open_store(api.database, "read") as store:
        stored = store.reference.settings().model_dump(mode="json")["delivery"]["webhooks"]["12"]
    assert stored["secret"] == "second-secret-of-16+"
    assert stored["previous_secret"] == "first-secret-of-16+"
    assert stored["previous_secret_until"] == "2026-03-02T10:00:00Z"  # 24 hours on
    shown = api.get(admin, "/v1/config").json()["delivery"]["webhooks"]["12"]
    assert shown["previous_secret"] is None


# -- 10. the token cache ----------------------------------------------------------------------


def principal(n: int) -> Principal:
    return Principal(n, "dno", frozenset({"12"}))


def test_the_token_cache_drops_the_least_recently_used_and_never_everything() -> None:
    cache = TokenCache(seconds=60, size=3)
    for n in range(3):
        cache.put(f"t{n}", principal(n))
    assert cache.get("t0") == principal(0)  # used: now the most recent
    cache.put("t3", principal(3))
    assert len(cache) == 3
    assert cache.get("t1") is None  # the least recently used went
    assert [cache.get(f"t{n}") for n in (0, 2, 3)] == [principal(0), principal(2), principal(3)]


def test_made_up_tokens_are_not_cached_and_push_no_real_one_out(database: str) -> None:
    from tests.api_harness import Clock, make_api

    for api in make_api(database, Clock(), token_cache_seconds=60):
        dno = api.token("dno", "12")
        assert api.get(dno, "/v1/summary").status_code == 200
        cache = api.client.app.state.context.tokens  # type: ignore[attr-defined]
        for n in range(50):
            assert api.get(f"pg_made-up-{n}", "/v1/summary").status_code == 401
        assert len(cache) == 1  # the DNO's token alone (the store came seeded): nothing made up
        late = api.token("dsp")  # a token made just after a failed try works at once
        assert api.get(late, "/v1/summary").status_code == 403  # known, only not allowed


def test_a_refused_token_is_remembered_apart_and_for_a_few_seconds_only() -> None:
    cache = TokenCache(seconds=60, size=2)
    cache.put("real", principal(1))
    for n in range(5):
        cache.refuse(f"made-up-{n}")
    assert [cache.refused(f"made-up-{n}") for n in range(5)] == [False] * 3 + [True] * 2
    assert cache.get("real") == principal(1)  # the flood pushed no real token out
    assert not TokenCache(seconds=0).refused("x")  # no caching: every look-up asks the store
    brief = TokenCache(seconds=0.001)
    brief.refuse("x")
    time.sleep(0.01)
    assert not brief.refused("x")


@contextlib.contextmanager
def tokens_table_locked(database: str) -> Iterator[threading.Event]:
    """Every token look-up blocks (PostgreSQL: the table locked by another connection) until
    the block ends; the event is set then, so a test can tell what was answered before."""
    released = threading.Event()
    with psycopg.connect(database, autocommit=True) as conn, conn.transaction():
        conn.execute("LOCK TABLE api_tokens IN ACCESS EXCLUSIVE MODE")
        try:
            yield released
        finally:
            released.set()


@pytest.mark.parametrize("database", ["postgres"], indirect=True)  # a lock that blocks reads
def test_a_flood_of_made_up_tokens_leaves_known_callers_served(database: str) -> None:
    from tests.api_harness import Clock, make_api

    for api in make_api(database, Clock(), token_cache_seconds=60, read_connections=4):
        dno = api.token("dno", "12")
        assert api.get(dno, "/v1/suppression-log").status_code == 200  # known from now on
        reads = api.client.app.state.context.reads  # type: ignore[attr-defined]
        with ThreadPoolExecutor(12) as pool, tokens_table_locked(database) as released:
            flood = [
                pool.submit(api.get, f"pg_made-up-{n}", "/v1/suppression-log") for n in range(12)
            ]
            # The flood's look-ups hold the connections they may (each blocked on the lock).
            deadline = time.monotonic() + 30
            while reads.opened - reads.idle < reads.unproven_share:
                assert time.monotonic() < deadline, "the flood never reached the store"
                time.sleep(0.01)
            served = api.get(dno, "/v1/suppression-log")
            assert served.status_code == 200, served.text
            assert not released.is_set()  # answered while every look-up was still blocked
            assert reads.opened - reads.idle <= reads.unproven_share + 1
        assert [f.result().status_code for f in flood] == [401] * 12
        # The same made-up token again: refused from memory, the store is not asked.
        with tokens_table_locked(database) as released:
            assert api.get("pg_made-up-0", "/v1/suppression-log").status_code == 401
            assert not released.is_set()
        pool_is_whole(api)


@on_both_backends  # the read pool's connections
def test_concurrent_bad_cursors_do_not_exhaust_the_pool(api: Api) -> None:
    dno = api.token("dno", "12")
    errors: list[int] = []

    def hammer() -> None:
        for _ in range(20):
            errors.append(api.get(dno, "/v1/alerts/forwarded", cursor="é").status_code)

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(errors) == {400}
    pool_is_whole(api)
    assert api.get(dno, "/v1/alerts/forwarded").status_code == 200


@on_both_backends  # the read pool's connections
def test_the_read_pool_is_whole_after_the_application_restarts(database: str) -> None:
    """Closing the pool at shutdown gives back its room: a restarted application (the same
    object, as a test client or an ASGI host may restart it) still has every connection."""
    from fastapi.testclient import TestClient

    from poagate.api.app import create_app
    from poagate.api.options import ServerOptions

    app = create_app(ServerOptions(database=database, deliveries=False, read_connections=2))
    reads = app.state.context.reads
    for _ in range(4):
        with TestClient(app) as client:
            assert client.get("/readyz").status_code == 200
        assert (reads.opened, reads.idle) == (0, 0)
