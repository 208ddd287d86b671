"""The HTTP API under test: a fleet of one site per DNO area, a clock the tests set, a client
that holds tokens, and a DNO's webhook receiver (real HTTP on loopback)."""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from poagate.api.app import create_app
from poagate.api.options import ServerOptions
from poagate.service.access import new_token, token_sha256
from poagate.store.database import open_store
from tests.helpers import INVENTORY_HEADER, USER, mpan, ts

OPERATORS = [str(n) for n in range(10, 24)]  # the 14 licensed DNO areas


def esme_of(operator: str) -> str:
    return f"00-DB-12-00-00-00-00-{operator}"


def chf_of(operator: str) -> str:
    return f"00-15-7B-00-00-00-00-{operator}"


def fleet_csv() -> str:
    rows = [INVENTORY_HEADER]
    for operator in OPERATORS:
        rows.append(
            f"{esme_of(operator)},ESME,SMETS2,LANDIS+GYR,,{chf_of(operator)},"
            f"{mpan(operator)},,SW1A 1AA"
        )
        rows.append(f"{chf_of(operator)},CHF,SMETS2,TOSHIBA,,,,,SW1A 1AA")
    return "\n".join(rows) + "\n"


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: ts("2026-03-01T10:00:00Z"))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Api:
    client: TestClient
    database: str
    clock: Clock

    def token(self, role: str, *operators: str) -> str:
        token = new_token()
        with open_store(self.database, "service") as store:
            store.tokens.add(
                token_sha256(token), role, sorted(operators), "test", self.clock(), "test"
            )
        return token

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def post(
        self,
        token: str,
        body: bytes | str | dict[str, Any] | list[dict[str, Any]],
        content_type: str | None = None,
    ) -> Any:
        if isinstance(body, dict):
            data, content_type = orjson.dumps(body), content_type or "application/json"
        elif isinstance(body, list):
            data = b"\n".join(orjson.dumps(item) for item in body)
            content_type = content_type or "application/x-ndjson"
        else:
            data = body.encode() if isinstance(body, str) else body
        return self.client.post(
            "/v1/messages",
            content=data,
            headers={**self.auth(token), "Content-Type": content_type or ""},
        )

    def get(self, token: str, path: str, **params: Any) -> Any:
        headers = self.auth(token)
        if "accept" in params:
            headers["Accept"] = params.pop("accept")
        return self.client.get(path, params=params, headers=headers)

    def background_passes(self, kind: str, passes: int = 2, seconds: float = 10) -> None:
        """Wait until this process's ``kind`` pass ("release", "verification" or "delivery")
        has completed
        ``passes`` more times: what a pass would do after a change has been done by then, so
        a test may assert that something did *not* happen."""
        context = self.client.app.state.context  # type: ignore[attr-defined]

        def count() -> int:
            if kind == "verification":
                return int(context.verification_passes)
            return int(context.release_passes if kind == "release" else context.deliveries.rounds)

        deadline = time.monotonic() + seconds

        def wait(counter: Callable[[], int], wanted: int) -> None:
            while counter() < wanted:
                if time.monotonic() > deadline:
                    pytest.fail(f"the {kind} pass did not run {passes} times in {seconds} s")
                time.sleep(0.01)

        wait(count, count() + passes)
        if kind == "verification":  # then the push to the DSP, a loop of its own, twice
            pushes = lambda: int(context.push_passes)  # noqa: E731
            wait(pushes, pushes() + 2)

    def all_pages(self, token: str, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a listing, following next_cursor."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            extra = {} if cursor is None else {"cursor": cursor}
            response = self.get(token, path, **params, **extra)
            assert response.status_code == 200, response.text
            page = response.json()
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return items


def activation(device: str, counter: int, execution_at: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "activation", "request_id": f"{USER}:{device}:{counter}"}
    if execution_at is not None:
        event["execution_at"] = execution_at
    return event


def ad1(alert_id: str, chf: str, event_at: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "ad1", "alert_id": alert_id, "chf_id": chf}
    if event_at is not None:
        event["event_at"] = event_at
    return event


def cursor_of(alert_id: str) -> str:
    return base64.urlsafe_b64encode(alert_id.encode()).decode().rstrip("=")


def load_fleet(api: Api, guid_list: Iterable[str] | None = None) -> None:
    """The fleet and a GUID list (by default every ESME of the fleet), uploaded by an admin as
    an operator would: what every store of the API's tests holds (tests/stores.py seeds a
    template with it once a session)."""
    admin = api.token("admin")
    esmes = [esme_of(o) for o in OPERATORS] if guid_list is None else guid_list
    for path, body, kind in (
        ("/v1/reference/inventory", fleet_csv(), "text/csv"),
        ("/v1/reference/guid-list", "".join(f"{e}\n" for e in esmes), "text/plain"),
    ):
        headers = {**api.auth(admin), "Content-Type": kind}
        loaded = api.client.put(path, content=body, headers=headers)
        assert loaded.status_code == 200, loaded.text


def make_api(
    database: str, clock: Clock, *, upload_fleet: bool = False, **settings: Any
) -> Iterator[Api]:
    """The application on ``database``, which holds the fleet already (a copy of the seeded
    template: the ``database`` fixture of tests/api/ and tests/console/) or gets it uploaded
    here (``upload_fleet``, for a store of the test's own, made here if there is none yet)."""
    if upload_fleet:
        open_store(database, "service", schema="create").close()
    app = create_app(
        ServerOptions(
            **{"database": database, "clock": clock, "deliveries": False, "token_cache_seconds": 0}
            | settings
        )
    )
    with TestClient(app) as client:
        api = Api(client, database, clock)
        if upload_fleet:
            load_fleet(api)
        yield api


@contextlib.contextmanager
def delivering_api(database: str, *guid_list: str) -> Iterator[Api]:
    """The API on the wall clock with its delivery worker polling often, on an empty store
    (``empty_sqlite``) given the fleet and ``guid_list`` (ESMEs) as the GUID list: for tests
    that watch a DNO's webhook receive."""
    settings = ServerOptions(
        database=database, deliveries=True, delivery_poll_seconds=0.02, token_cache_seconds=0
    )
    with TestClient(create_app(settings)) as client:
        api = Api(client, database, lambda: datetime.now(UTC))  # type: ignore[arg-type]
        load_fleet(api, guid_list)
        yield api


# -- a DNO webhook receiver (real HTTP on loopback) --------------------------------------------

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # a Standard Webhooks secret (24 bytes)


@dataclass
class Receipt:
    operator: str
    alert_id: str
    body: bytes
    headers: dict[str, str]
    status: int
    at: float
    peer: int = 0  # the sender's port: one a connection


@dataclass
class Receiver:
    """A DNO's endpoint: records every request; ``behaviour`` decides each answer."""

    behaviour: Callable[[str, str, int], str] = lambda operator, alert_id, attempt: "ok"
    receipts: list[Receipt] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def delivered(self) -> list[Receipt]:
        return [r for r in self.receipts if r.status == 200]


def serve(receiver: Receiver, keep_alive: bool = False) -> tuple[ThreadingHTTPServer, str]:
    """``receiver`` on 127.0.0.1; ``keep_alive``: HTTP/1.1, a connection kept for more requests
    (else each is closed after its answer)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            operator = self.path.rsplit("/", 1)[1]
            alert_id = self.headers["webhook-id"]
            with receiver.lock:
                attempt = receiver.attempts.get(alert_id, 0) + 1
                receiver.attempts[alert_id] = attempt
            action = receiver.behaviour(operator, alert_id, attempt)
            if action == "hang":
                time.sleep(1.0)  # longer than the sender's timeout
            if action == "slow":
                time.sleep(0.2)  # slow, but within the sender's timeout
            if action == "reset":  # the connection drops without an answer
                with receiver.lock:
                    receiver.receipts.append(
                        Receipt(operator, alert_id, body, dict(self.headers), 0, time.monotonic())
                    )
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            status = {
                "ok": 200,
                "slow": 200,
                "fail": 500,
                "hang": 200,
                "refuse": 503,
                "reject": 400,  # the receiver will never take this message
                "slow-down": 429,  # with Retry-After: 600
                "timeout": 408,
            }[action]
            with receiver.lock:
                receiver.receipts.append(
                    Receipt(
                        operator,
                        alert_id,
                        body,
                        dict(self.headers),
                        status if action != "hang" else 0,
                        time.monotonic(),
                        self.client_address[1],
                    )
                )
            try:
                self.send_response(status)
                if action == "slow-down":
                    self.send_header("Retry-After", "600")
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the sender gave up waiting

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 64  # a lane's connections arrive at once (the default is 5)

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# -- what the guards' and controls' tests share -------------------------------------------

AREA = {"area_outage_threshold": 3, "area_outage_seconds": 900}


def put_config(api: Api, **settings: Any) -> dict[str, Any]:
    admin = api.token("admin")
    answer = api.client.put("/v1/config", json=settings, headers=api.auth(admin))
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    return shown


def decide(api: Api, token: str, *events: dict[str, Any]) -> list[dict[str, Any]]:
    answer = api.post(token, list(events))
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def log_of(api: Api, operator: str) -> dict[str, dict[str, Any]]:
    dno = api.token("dno", operator)
    return {e["alert_id"]: e for e in api.all_pages(dno, "/v1/suppression-log")}


def feed_of(api: Api, operator: str, limit: int = 100) -> list[dict[str, Any]]:
    dno = api.token("dno", operator)
    return api.all_pages(dno, "/v1/alerts/forwarded", limit=limit)


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)
