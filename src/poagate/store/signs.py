"""Signs of life (spec §9, §14): every message that shows a device had power — a device message
(``device_messages``) or the outcome of an activation (``activation_outcomes``). Release-if-dark
and the verification guard read them by hub; a replay's guards restore every one. Both tables
age by ``received_at`` (``TABLES``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from poagate.domain.events import ActivationOutcome, DeviceMessage
from poagate.formats.timestamps import from_us, to_us
from poagate.store.purge import Purge
from poagate.store.sqlbase import NULL_INT, NULL_TEXT, Database, Insert, Kept

TABLES = (Kept("device_messages", "received_at"), Kept("activation_outcomes", "received_at"))

ACTIVATION_OUTCOMES = Insert(
    "activation_outcomes",
    ("device_id", "received_at", "request_id", "success"),
    frozenset({"success"}),
    frozenset({"request_id"}),
)
DEVICE_MESSAGES = Insert("device_messages", ("device_id", "received_at"))


def encode_activation_outcomes(outcomes: Sequence[ActivationOutcome]) -> list[tuple[Any, ...]]:
    return [
        (
            o.device_id,
            to_us(o.received_at),
            o.request_id or NULL_TEXT,
            NULL_INT if o.success is None else int(o.success),
        )
        for o in outcomes
    ]


def encode_device_messages(messages: Sequence[DeviceMessage]) -> list[tuple[Any, ...]]:
    return [(m.device_id, to_us(m.received_at)) for m in messages]


def write(
    db: Database,
    activation_outcomes: Sequence[tuple[Any, ...]],
    device_messages: Sequence[tuple[Any, ...]],
) -> None:
    """Insert signs of life, inside the caller's transaction."""
    db.insert(ACTIVATION_OUTCOMES, activation_outcomes)
    db.insert(DEVICE_MESSAGES, device_messages)


class SignsOfLife:
    """See the module docstring."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def all(self) -> Iterator[tuple[str, datetime]]:
        """Every sign of life: (device_id, received_at)."""
        for device_id, at in self._db.stream(
            "SELECT device_id, received_at FROM device_messages "
            "UNION ALL SELECT device_id, received_at FROM activation_outcomes"
        ):
            yield device_id, from_us(at)

    def of_hubs(
        self,
        chf_ids: Sequence[str],
        members: Mapping[str, str],
        after: datetime,
        until: datetime,
    ) -> list[tuple[str, datetime]]:
        """(chf_id, received_at) of every sign of life from each hub or a device joined to it
        (``members``: device_id -> its hub, from the fleet), received in (after, until]."""
        db = self._db
        hub_of = {**members, **{chf: chf for chf in chf_ids}}
        parts, params = [], []
        for table in ("device_messages", "activation_outcomes"):
            parts.append(
                f"SELECT m.device_id, m.received_at FROM {table} m "
                "WHERE {in:m.device_id} AND m.received_at > ? AND m.received_at <= ?"
            )
            params += [db.list_param(list(hub_of)), to_us(after), to_us(until)]
        return [
            (hub_of[device], from_us(at))
            for device, at in db.fetch(" UNION ALL ".join(parts), params)
        ]

    def counts(self) -> dict[str, int]:
        """The signs-of-life figures of ``summary.json``."""
        db = self._db
        return {
            "activation_outcomes": int(db.scalar("SELECT COUNT(*) FROM activation_outcomes")),
            "device_messages": int(db.scalar("SELECT COUNT(*) FROM device_messages")),
        }


def purges() -> tuple[Purge, ...]:
    """What retention purges of the signs of life (spec §15): every one older than its
    retention, which is never shorter than the guards in force read back
    (``poagate.service.retention``)."""
    return (
        Purge("signs_of_life", "device_messages", "seq", "received_at"),
        Purge("signs_of_life", "activation_outcomes", "seq", "received_at"),
    )
