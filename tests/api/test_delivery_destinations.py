"""Where a delivery connects (spec §18, docs/security.md): the webhook's name is resolved once
per connection, every address it resolves to is checked, and the connection goes to the
checked address; a name that does not resolve is an error. The resolver is a stub (the
answers a DNS server might give); the receiver is real, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import trustme

from poagate.delivery.exchange import Resolver, checked_client
from poagate.delivery.worker import Attempt, send
from poagate.formats.settings import Webhook
from poagate.store.outbox import Delivery
from tests.api_harness import SECRET, Receiver


class Stub:
    """A resolver whose answers change from one look-up to the next, as a DNS server's may."""

    def __init__(self, *answers: list[str] | Exception) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        answer = self.answers[min(len(self.asked), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


def attempt(url: str, resolver: Resolver, ssl_context: ssl.SSLContext | None = None) -> Attempt:
    chf, now = "00-00-00-00-00-00-00-12", datetime.now(UTC)
    delivery = Delivery(1, "A-1", "12", chf, "application/json", b"{}", 0, now)
    hooks = {"12": Webhook(url=url, secret=SECRET)}

    async def run() -> Attempt:
        async with checked_client(resolver, ssl_context) as client:
            return await send(client, delivery, hooks, 5.0, datetime.now(UTC))

    return asyncio.run(run())


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_a_name_is_resolved_once_and_connected_to_as_checked(
    receiver: tuple[Receiver, str],
) -> None:
    """DNS rebinding: the first answer is the receiver, every later one the metadata service.
    The attempt looks the name up once and connects where that answer said."""
    rx, url = receiver
    stub = Stub(["127.0.0.1"], ["169.254.169.254"])
    result = attempt(f"http://dno.example:{port_of(url)}/dno/12", stub)
    assert result == Attempt(None)
    assert stub.asked == ["dno.example"]
    (receipt,) = rx.receipts
    assert receipt.headers["Host"] == f"dno.example:{port_of(url)}"  # the name, not the address


@pytest.mark.parametrize(
    "answer",
    [
        ["169.254.169.254"],
        ["127.0.0.1", "169.254.169.254"],  # every address is checked, not just the first
        ["::ffff:169.254.169.254"],
        ["100.100.100.200"],
    ],
)
def test_a_name_resolving_to_a_refused_address_is_dead_at_once(
    receiver: tuple[Receiver, str], answer: list[str]
) -> None:
    rx, url = receiver
    result = attempt(f"http://dno.example:{port_of(url)}/dno/12", Stub(answer))
    assert result.final
    assert result.error is not None
    assert "refused" in result.error
    assert rx.receipts == []


def test_a_name_that_does_not_resolve_is_an_error_not_a_pass(
    receiver: tuple[Receiver, str],
) -> None:
    rx, url = receiver
    for stub in (Stub(socket.gaierror(-2, "Name or service not known")), Stub([])):
        result = attempt(f"http://nowhere.example:{port_of(url)}/dno/12", stub)
        assert result.error is not None
        assert "does not resolve" in result.error
    assert rx.receipts == []


def test_the_name_checked_is_the_idna_name_connected_to(receiver: tuple[Receiver, str]) -> None:
    """``xn--fa-hia`` is "faß" by IDNA 2008; IDNA 2003, which the old check re-encoded with,
    makes it "fass": another name, which a DNS server could answer differently."""
    rx, url = receiver
    stub = Stub(["127.0.0.1"])
    assert attempt(f"http://xn--fa-hia.example:{port_of(url)}/dno/12", stub) == Attempt(None)
    assert stub.asked == ["xn--fa-hia.example"]
    assert len(rx.delivered()) == 1


def test_tls_checks_the_certificate_against_the_webhooks_name_not_the_address() -> None:
    """The socket goes to the checked address, the TLS handshake names the URL's host (SNI)
    and the certificate is checked against it: a name the certificate is not for fails, though
    it resolves to the same address."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("dno.example").configure_cert(server_context)
    names: list[str | None] = []
    server_context.sni_callback = lambda sock, name, context: names.append(name)  # type: ignore[assignment,misc]
    hosts: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            hosts.append(self.headers["Host"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        trusted = ssl.create_default_context()
        ca.configure_trust(trusted)
        loopback = Stub(["127.0.0.1"])
        assert attempt(f"https://dno.example:{port}/dno/12", loopback, trusted) == Attempt(None)
        assert names == ["dno.example"]
        assert hosts == [f"dno.example:{port}"]
        wrong = attempt(f"https://other.example:{port}/dno/12", loopback, trusted)
        assert wrong.error is not None
        assert "CERTIFICATE_VERIFY_FAILED" in wrong.error
        assert hosts == [f"dno.example:{port}"]  # nothing was sent to the wrong name
    finally:
        server.shutdown()
