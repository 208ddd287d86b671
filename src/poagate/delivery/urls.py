"""Where poagate may send a webhook, checked again before each delivery.

A URL is checked when it is configured (``poagate.formats.webhook_urls``: its literal address
or a known metadata name) and again here, before each delivery, for what its name resolves to
then: a name that later resolves to a link-local or metadata address is refused too (server-side
request forgery; see ``poagate.formats.webhook_urls``).
"""

from __future__ import annotations

import asyncio
import socket

import httpx

from poagate.formats.webhook_urls import (
    WebhookUrlError,
    check_webhook_url,
    literal_address,
    refused_address,
)


async def check_destination(url: str) -> None:
    """Before a delivery: ``WebhookUrlError`` if ``url``'s host resolves to a refused address
    (a name that pointed elsewhere when it was configured). Names that do not resolve are left
    to the HTTP client, whose error is then the delivery's."""
    check_webhook_url(url)
    parsed = httpx.URL(url)
    if literal_address(parsed.host) is not None:
        return
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(parsed.host, parsed.port, type=socket.SOCK_STREAM)
    except OSError:
        return
    for *_, sockaddr in found:
        address = literal_address(str(sockaddr[0]))
        reason = None if address is None else refused_address(address)
        if reason is not None:
            raise WebhookUrlError(f"{parsed.host} resolves to {reason}")
