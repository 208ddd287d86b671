"""Which webhook URLs poagate accepts, and how a webhook URL is shown: read by the stored
configuration's model (``poagate.formats.settings``) when a URL is configured, and by the
delivery worker again before each delivery (``poagate.delivery.exchange``).

A DNO's receiver sits on its own network, often a private one, and the tests' receivers listen
on loopback: both stay allowed. Link-local addresses (169.254.0.0/16, fe80::/10) and the
clouds' metadata services are refused: a URL pointing there would make poagate fetch its own
host's credentials for whoever set the URL (server-side request forgery). The check is made
when the URL is configured (its literal address or known metadata name, as the ASCII name the
HTTP client uses) and again for every connection (``poagate.delivery.exchange``: the name is
resolved once, every address it resolves to is checked, and the connection goes to those
addresses), so a name that later resolves to such an address is refused too, and a name that
does not resolve is an error.

A password in a URL (``https://user:password@host/``) is never shown back: ``masked_url``
replaces it with ``***``, and a configuration that sends the masked form back keeps the stored
password.
"""

from __future__ import annotations

import ipaddress
import socket

import httpx

MASK = "***"

# Metadata services reached by name or at addresses outside the link-local ranges.
_METADATA_NAMES = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
_METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)


class WebhookUrlError(ValueError):
    """A webhook URL poagate will not send to; the message says why."""


def refused_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why poagate refuses to send to ``address``, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in _METADATA_ADDRESSES:
        return f"{address} is a cloud metadata service"
    if address.is_link_local:
        return f"{address} is a link-local address (cloud metadata services live there)"
    if address.is_multicast or address.is_unspecified:
        return f"{address} is not the address of one receiver"
    return None


def literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host names literally: IPv4 or IPv6, and the old IPv4 spellings the
    system's resolver also reads (``0xa9fea9fe``, ``169.254.43518``)."""
    bare = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(bare))
    except OSError:
        return None


def check_webhook_url(url: str) -> str:
    """``url`` if poagate may send webhooks there, else ``WebhookUrlError`` saying why."""
    if len(url) > 2048:
        raise WebhookUrlError("is over 2,048 characters")
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in url):
        raise WebhookUrlError("must be visible ASCII (percent-encode anything else)")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise WebhookUrlError(f"cannot be read as a URL: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise WebhookUrlError("must be an http:// or https:// URL")
    host = parsed.raw_host.decode("ascii")  # the name the HTTP client connects to (IDNA)
    if not host:
        raise WebhookUrlError("has no host")
    if host.lower().rstrip(".") in _METADATA_NAMES:
        raise WebhookUrlError(f"{host} is a cloud metadata service")
    address = literal_address(host)
    if address is not None:
        reason = refused_address(address)
        if reason is not None:
            raise WebhookUrlError(reason)
    return url


def masked_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (user names stay: they help tell apart)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        return url if "@" not in url else MASK
    if not parsed.password:
        return url
    return str(parsed.copy_with(username=parsed.username, password=MASK))


def has_masked_password(url: str) -> bool:
    """Whether ``url`` carries the mask ``***`` where its password would be."""
    try:
        return httpx.URL(url).password == MASK
    except (httpx.InvalidURL, ValueError):
        return False
