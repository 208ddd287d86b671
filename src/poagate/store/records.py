"""Small records the store hands out: reference loads, replay sources, tokens, audit, deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from poagate.domain.values import value


@value
class InventoryLoad:
    """A version of the inventory (spec §11): a full load or a change file."""

    id: int
    loaded_at: datetime
    source: str
    sha256: str
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    kind: str = "full"  # full or changes
    state: str = "in_force"  # loading, in_force, replaced or failed (full); applied (changes)
    base: int | None = None  # for changes: the full load they amend (0: none)
    rows_removed: int = 0
    device_count: int | None = None  # the devices of a full load once it is done
    finished_at: datetime | None = None


@value
class SourceState:
    """An input file as the store knows it (see ``schema.sources``)."""

    id: int
    sha256: str
    name: str
    events_total: int
    events_done: int


@value
class TokenRecord:
    """A bearer token's grant (the token itself is never stored, only its SHA-256)."""

    id: int
    role: str  # admin, dsp or dno
    network_operators: frozenset[str]
    description: str
    created_at: datetime
    revoked_at: datetime | None


@value
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


@value
class Delivery:
    """A forwarded AD1 on its way to its DNO's webhook."""

    id: int
    alert_id: str
    network_operator: str
    chf_id: str
    content_type: str
    payload: bytes
    attempts: int


@value
class OutboundMessage:
    """An AD1's original message queued for its DNO's webhook with its decision: ``pending`` when
    it was forwarded, ``held`` when it was suppressed and a guard may yet release it."""

    alert_id: str
    network_operator: str
    chf_id: str
    content_type: str
    payload: bytes
    status: str  # pending or held


@value
class DeliveryState:
    """Where one queued message stands (what DCC operations list)."""

    id: int
    alert_id: str
    network_operator: str
    chf_id: str
    status: str  # pending, held, delivered or dead
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
