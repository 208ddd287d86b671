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

A URL must also be one a delivery can reach at all: http or https, a host that is an IP address
or a DNS name (labels of letters, digits and hyphens), and a port from 1 to 65535 — so
``http://127.0.0.1:91000/x`` is refused when it is configured, not at its first delivery.

A credential in a URL is never shown back: ``masked_url`` replaces a password
(``https://user:password@host/``), a user name alone (``https://TOKEN@host/``) and every query
value (``?key=…``) with ``***``, and a configuration that sends the masked form back keeps the
stored URL.
"""

from __future__ import annotations

import ipaddress
import re
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


_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


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
    port = parsed.port
    if port is not None and not 1 <= port <= 65535:
        raise WebhookUrlError(f"port {port} is not a port: ports are 1 to 65535")
    if host.lower().rstrip(".") in _METADATA_NAMES:
        raise WebhookUrlError(f"{host} is a cloud metadata service")
    address = literal_address(host)
    if address is None and not _dns_name(parsed.raw_host.decode("ascii", "replace")):
        raise WebhookUrlError(
            f"host {host!r} is neither an IP address nor a DNS name (letters, digits, hyphens)"
        )
    if address is not None:
        reason = refused_address(address)
        if reason is not None:
            raise WebhookUrlError(reason)
    return url


def _dns_name(host: str) -> bool:
    name = host[:-1] if host.endswith(".") else host
    return 0 < len(name) <= 253 and all(_LABEL.fullmatch(label) for label in name.split("."))


def masked_url(url: str) -> str:
    """``url`` as it is shown: a password replaced by ``***`` (a user name beside it stays: it
    helps tell URLs apart), a user name alone (``https://TOKEN@host/``, a credential of its
    own) replaced too, and every query value (``?key=…``, where receivers often take theirs)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        return url if "@" not in url and "?" not in url else MASK
    if parsed.password:
        url = str(parsed.copy_with(username=parsed.username, password=MASK))
    elif parsed.username:
        url = str(parsed.copy_with(username=MASK))
    head, mark, rest = url.partition("?")
    if not mark:
        return url
    query, hash_mark, fragment = rest.partition("#")
    return f"{head}?{_masked_query(query)}{hash_mark}{fragment}"


def _masked_query(query: str) -> str:
    pairs = []
    for pair in query.split("&"):
        name, equals, value = pair.partition("=")
        pairs.append(f"{name}={MASK}" if equals and value else (pair if equals else MASK))
    return "&".join(pairs) if query else query


def has_masked_password(url: str) -> bool:
    """Whether ``url`` carries the mask ``***`` where ``masked_url`` puts it (its password, a
    user name alone, a query value): sent back, it keeps the stored URL's credentials."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        return False
    if parsed.password == MASK or (not parsed.password and parsed.username == MASK):
        return True
    query = url.partition("?")[2].partition("#")[0]
    return any(pair == MASK or pair.partition("=")[2] == MASK for pair in query.split("&") if query)
