"""How a server process runs (its database, limits, poll intervals, pool sizes): from the
command line, passed on in the environment so that every uvicorn worker process builds the same
application. (What the gate and the deliveries do is the stored configuration,
``poagate.formats.settings``.)"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from poagate.store.database import default_database


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class ServerOptions:
    database: str = field(default_factory=default_database)
    # The largest request body accepted: a JSON Lines batch of some thousands of messages.
    body_limit_bytes: int = 8 * 1024 * 1024
    # Reference data (/v1/reference/…): bodies stream to a file, so memory does not grow with
    # them; the cap keeps a runaway upload from filling the disk (413). A national inventory
    # (spec §11: gigabytes) is loaded with `poagate inventory load`, or over HTTP with
    # POAGATE_REFERENCE_LIMIT_BYTES raised (0: no cap but the disk's).
    reference_limit_bytes: int | None = 256 * 1024 * 1024
    deliveries: bool = True  # run the delivery worker in this process
    delivery_poll_seconds: float = 0.2
    # How often release-if-dark (spec §9) looks for entries to release, when it is on.
    release_poll_seconds: float = 5.0
    # How often the verification guard (spec §14) sends, settles and releases, when it is on.
    verification_poll_seconds: float = 5.0
    # How often a maintenance pass (spec §15) purges what is past its retention; one pass an
    # interval between every server of a database (poagate.service.maintenance).
    maintenance_seconds: float = 3600.0
    read_connections: int = 8
    token_cache_seconds: float = 2.0  # a revoked token stops working within this
    busy_timeout_ms: int = 10_000  # SQLite: how long a write waits for another writer
    log_level: str = "INFO"
    clock: Callable[[], datetime] = wall_clock
    # Behind a proxy (docs/security.md "Running behind a proxy"): the origins people's browsers
    # use to reach the console (``https://poagate.example.org``), accepted by its sign-in as
    # its own whatever Host the proxy sends on; and how long a console session lasts at most,
    # however busy (it also ends after 8 hours idle).
    public_origins: tuple[str, ...] = ()
    session_lifetime_hours: float = 12.0
    # A server process of its own (each of `poagate serve`'s workers): once started, what it
    # holds leaves the garbage collector's full passes (``poagate.api.app.settle_memory``).
    # Off for an application made in a process that goes on doing other things (the tests).
    settle_memory: bool = False

    @classmethod
    def from_env(cls) -> ServerOptions:
        options = cls()
        env = os.environ
        if env.get("POAGATE_DATABASE"):
            options.database = env["POAGATE_DATABASE"]
        if env.get("POAGATE_BODY_LIMIT_BYTES"):
            options.body_limit_bytes = int(env["POAGATE_BODY_LIMIT_BYTES"])
        if env.get("POAGATE_REFERENCE_LIMIT_BYTES"):
            limit = int(env["POAGATE_REFERENCE_LIMIT_BYTES"])
            options.reference_limit_bytes = limit if limit > 0 else None
        if env.get("POAGATE_DELIVERIES"):
            options.deliveries = env["POAGATE_DELIVERIES"] not in {"0", "false", "no"}
        if env.get("POAGATE_DELIVERY_POLL_SECONDS"):
            options.delivery_poll_seconds = float(env["POAGATE_DELIVERY_POLL_SECONDS"])
        if env.get("POAGATE_RELEASE_POLL_SECONDS"):
            options.release_poll_seconds = float(env["POAGATE_RELEASE_POLL_SECONDS"])
        if env.get("POAGATE_VERIFICATION_POLL_SECONDS"):
            options.verification_poll_seconds = float(env["POAGATE_VERIFICATION_POLL_SECONDS"])
        if env.get("POAGATE_MAINTENANCE_SECONDS"):
            options.maintenance_seconds = float(env["POAGATE_MAINTENANCE_SECONDS"])
        if env.get("POAGATE_READ_CONNECTIONS"):
            options.read_connections = int(env["POAGATE_READ_CONNECTIONS"])
        if env.get("POAGATE_LOG_LEVEL"):
            options.log_level = env["POAGATE_LOG_LEVEL"].upper()
        if env.get("POAGATE_PUBLIC_ORIGIN"):
            options.public_origins = public_origins(env["POAGATE_PUBLIC_ORIGIN"].split(","))
        if env.get("POAGATE_SESSION_LIFETIME_HOURS"):
            options.session_lifetime_hours = float(env["POAGATE_SESSION_LIFETIME_HOURS"])
        return options

    def to_env(self) -> dict[str, str]:
        return {
            "POAGATE_DATABASE": self.database,
            "POAGATE_BODY_LIMIT_BYTES": str(self.body_limit_bytes),
            "POAGATE_REFERENCE_LIMIT_BYTES": str(self.reference_limit_bytes or 0),
            "POAGATE_DELIVERIES": "1" if self.deliveries else "0",
            "POAGATE_DELIVERY_POLL_SECONDS": str(self.delivery_poll_seconds),
            "POAGATE_RELEASE_POLL_SECONDS": str(self.release_poll_seconds),
            "POAGATE_VERIFICATION_POLL_SECONDS": str(self.verification_poll_seconds),
            "POAGATE_MAINTENANCE_SECONDS": str(self.maintenance_seconds),
            "POAGATE_READ_CONNECTIONS": str(self.read_connections),
            "POAGATE_LOG_LEVEL": self.log_level,
            "POAGATE_PUBLIC_ORIGIN": ",".join(self.public_origins),
            "POAGATE_SESSION_LIFETIME_HOURS": str(self.session_lifetime_hours),
        }


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(text: str) -> str:
    """An origin as browsers send it in ``Origin`` (``scheme://host[:port]``, lower case, the
    scheme's default port left out); ``ValueError`` when ``text`` is not one (a path, a query,
    user information, another scheme)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text.strip().rstrip("/"))
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r} is not an origin such as https://poagate.example.org") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host or parts.path or parts.query or "@" in parts.netloc:
        raise ValueError(f"{text!r} is not an origin such as https://poagate.example.org")
    if ":" in host:
        host = f"[{host}]"
    return (
        f"{scheme}://{host}"
        if port in (None, _DEFAULT_PORTS[scheme])
        else (f"{scheme}://{host}:{port}")
    )


def public_origins(texts: list[str]) -> tuple[str, ...]:
    """The origins of ``--public-origin`` (each checked by ``origin_of``), blanks left out."""
    return tuple(origin_of(t) for t in texts if t.strip())
