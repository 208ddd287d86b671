"""One POST to a receiver (a DNO's webhook, the DSP's), bounded whatever the receiver does
(spec §16 "Receivers cannot hold the service", §18).

* **A deadline for the whole exchange**: resolving, connecting, TLS, sending, the answer's
  headers and what is read of its body end within ``deadline`` seconds
  (``delivery.timeout_seconds``, default 10), however slowly the receiver trickles bytes.
* **The answer is read up to 64 KiB** (``ANSWER_LIMIT``), streamed, and then the connection is
  dropped: a receiver answering with an endless body costs one buffer, never the process's
  memory. Only the status and the headers are used.
* **Resolved once, checked, connected to as checked.** Every new connection resolves the name
  it connects to — the URL's ``raw_host``, the ASCII (IDNA) name the HTTP client uses — once,
  checks every address it resolves to (``poagate.formats.webhook_urls.refused_address``), and
  connects to those same addresses: no second look-up a DNS server could answer differently. A
  name that does not resolve is an error. TLS still checks the certificate against the URL's
  name (the socket is connected to the address; the handshake names the host), and connections
  are pooled by name, so one name's connection never carries another's messages. Look-ups run
  in threads of their own, and connections opened at once to one name share one look-up: a
  DNS server that answers slowly holds only its own name's deliveries.

The resolver is a function (``Resolver``) so that tests can give the answers a DNS server might.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import httpcore
import httpx

from poagate.formats.webhook_urls import WebhookUrlError, literal_address, refused_address

ANSWER_LIMIT = 64 * 1024  # bytes of an answer read at most
Resolver = Callable[[str, int], Awaitable[list[str]]]


class RefusedDestinationError(WebhookUrlError):
    """The webhook's name resolves to an address poagate will not send to (or to nothing)."""


# Look-ups run in threads of their own: a DNS server that answers slowly (a DNO controls its
# name's) then holds none of the threads the store's calls and the API use.
_LOOKUPS = ThreadPoolExecutor(max_workers=32, thread_name_prefix="poagate-dns")


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, by the system's resolver, in its order."""
    loop = asyncio.get_running_loop()
    found = await loop.run_in_executor(
        _LOOKUPS, partial(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    )
    return [str(sockaddr[0]) for *_, sockaddr in found]


async def checked_addresses(host: str, port: int, resolver: Resolver) -> list[str]:
    """The addresses to connect to for ``host``: every one checked, or ``RefusedDestinationError``
    when any is refused or there is none."""
    literal = literal_address(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = list(dict.fromkeys(await resolver(host, port)))
        except OSError as exc:
            raise RefusedDestinationError(f"{host} does not resolve ({exc})") from None
        if not addresses:
            raise RefusedDestinationError(f"{host} does not resolve")
    for address in addresses:
        parsed = literal_address(address)
        if parsed is None:
            raise RefusedDestinationError(f"{host} resolves to {address!r}, not an address")
        reason = refused_address(parsed)
        if reason is not None:
            raise RefusedDestinationError(f"{host} resolves to {reason}")
    return addresses


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """Opens each connection to the checked addresses of the name asked for."""

    def __init__(self, resolver: Resolver) -> None:
        self._resolver = resolver
        self._backend = httpcore.AnyIOBackend()
        self._lookups: dict[tuple[str, int], asyncio.Future[list[str]]] = {}

    async def _resolve(self, host: str, port: int) -> list[str]:
        """One look-up for the connections opened at once to one name (a lane's round opens
        up to 64): they share its answer, and a slow DNS server holds one thread, not 64."""
        key = (host, port)
        lookup = self._lookups.get(key)
        if lookup is None:
            lookup = asyncio.ensure_future(self._resolver(host, port))
            self._lookups[key] = lookup

            def done(finished: asyncio.Future[list[str]]) -> None:
                self._lookups.pop(key, None)
                if not finished.cancelled():
                    finished.exception()  # retrieved, even when every waiter gave up

            lookup.add_done_callback(done)
        return await asyncio.shield(lookup)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await checked_addresses(host, port, self._resolve)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._backend.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise RefusedDestinationError("unix sockets are not webhooks")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class _Body(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


class CheckedTransport(httpx.AsyncBaseTransport):
    """httpx's transport over ``CheckedBackend``: no proxy from the environment, TLS checked
    against the URL's name, connections pooled by name."""

    def __init__(
        self,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
        keep_alive: int = 64,
    ) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=None,  # no pool a slow receiver's connections could fill
            # httpcore (1.0.9) closes every idle connection while the pool holds more than
            # this, idle or not: a pool is kept at most this busy, or nothing is kept alive.
            max_keepalive_connections=keep_alive,
            keepalive_expiry=5.0,
            network_backend=CheckedBackend(resolver or system_resolver),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        answer = await self._pool.handle_async_request(
            httpcore.Request(
                method=request.method,
                url=httpcore.URL(
                    scheme=request.url.raw_scheme,
                    host=request.url.raw_host,
                    port=request.url.port,
                    target=request.url.raw_path,
                ),
                headers=request.headers.raw,
                content=request.stream,
                extensions=request.extensions,
            )
        )
        assert isinstance(answer.stream, AsyncIterable)
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_Body(answer.stream),
            extensions=answer.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


def checked_client(
    resolver: Resolver | None = None,
    ssl_context: ssl.SSLContext | None = None,
    keep_alive: int = 64,
) -> httpx.AsyncClient:
    """The client deliveries and the DSP push use (``CheckedTransport``; no redirects;
    ``ssl_context``: the certificates trusted, by default the system's; ``keep_alive``: the
    most requests it is given at once, and the connections it keeps open)."""
    return httpx.AsyncClient(
        transport=CheckedTransport(resolver, ssl_context, keep_alive),
        follow_redirects=False,
        trust_env=False,
    )


@dataclass(frozen=True, slots=True)
class Answer:
    """What a receiver answered: its status and headers (the body is not kept)."""

    status: int
    headers: httpx.Headers


class ExchangeError(Exception):
    """The exchange failed: ``detail`` says how (for logs and admin, never for a DNO)."""

    def __init__(self, detail: str, final: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.final = final  # sending again would not help (a refused destination)


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    deadline: float,
) -> Answer:
    """POST ``body`` to ``url`` within ``deadline`` seconds, reading at most ``ANSWER_LIMIT``
    bytes of the answer (see the module docstring); ``ExchangeError`` when it fails."""
    try:
        async with asyncio.timeout(deadline):
            async with client.stream(
                "POST", url, content=body, headers=dict(headers), timeout=deadline
            ) as response:
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read >= ANSWER_LIMIT:
                        break  # the rest is never read; closing drops the connection
                return Answer(response.status_code, response.headers)
    except TimeoutError:
        raise ExchangeError(f"no complete answer within {deadline:g} s") from None
    except RefusedDestinationError as exc:
        raise ExchangeError(f"the webhook URL is refused: {exc}", final=True) from None
    except (httpx.HTTPError, httpcore.NetworkError, httpcore.TimeoutException) as exc:
        raise ExchangeError(f"{type(exc).__name__}: {exc}") from None
    except httpcore.ProtocolError as exc:
        raise ExchangeError(f"the answer was not HTTP: {exc}") from None
