"""Sending dead deliveries again, every one of a DNO or of a time range (spec §18): the act
behind ``POST /v1/deliveries/retry`` and ``poagate deliveries retry``. Each is retried from now
for ``delivery.retry_for_hours`` again; each hub's keep their order (they keep their place in
the queue). One audit entry says who, which DNO and range, and how many.
"""

from __future__ import annotations

from datetime import datetime

from poagate.domain.ids import IdentifierError, parse_network_operator
from poagate.formats.timestamps import parse_timestamp
from poagate.store.ports import DeadRetrying


def retry_dead(
    store: DeadRetrying,
    network_operator: str | None,
    since: str | datetime | None,
    until: str | datetime | None,
    at: datetime,
    actor: str,
) -> int:
    """How many dead deliveries of ``network_operator`` (None: every DNO's) queued in
    [since, until) were sent again; ``ValueError`` saying what is wrong with the selection."""
    if network_operator is not None:
        try:
            network_operator = parse_network_operator(network_operator)
        except IdentifierError as exc:
            raise ValueError(f"network_operator: {exc}") from None
    start = _moment(since, "from")
    end = _moment(until, "to")
    if start is not None and end is not None and start >= end:
        raise ValueError("from must be before to")
    return store.outbox.retry_dead(network_operator, start, end, at, actor)


def _moment(value: str | datetime | None, name: str) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return parse_timestamp(value, name)
