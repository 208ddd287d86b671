"""What each delivery sends (spec §18): made when it is attempted, so a released AD1 goes as
``ad1.released`` with its release, and a forwarded one as ``ad1.forwarded``
(``poagate.formats.envelope``).

A webhook configured with ``format = "original"`` receives the DSP's message alone, with its
own content type, as the outbox holds it. A message queued without a decision (written before
the payload existed, or by hand) is sent as it was queued too: nothing is made up.

A forwarded AD1's ``esme_id`` and ``mpan`` are its hub's ESME in the inventory in force when it
is sent (R8 routed it by the same row); a suppressed one keeps those of its window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from poagate.domain.outcomes import ForwardedAlert
from poagate.domain.values import value
from poagate.formats.envelope import CONTENT_TYPE, envelope
from poagate.formats.settings import Webhook
from poagate.store.outbox import Delivery
from poagate.store.ports import PayloadReads


@value
class Body:
    content_type: str
    payload: bytes


def bodies(
    store: PayloadReads,
    claimed: Sequence[Delivery],
    webhooks: Mapping[str, Webhook],
    at: datetime,
) -> dict[int, Body]:
    """Each claimed delivery's body, by delivery id (see the module docstring)."""
    found = {d.id: Body(d.content_type, d.payload) for d in claimed}
    wrapped = [
        d
        for d in claimed
        if (hook := webhooks.get(d.network_operator)) is None or hook.format != "original"
    ]
    outcomes = store.alerts.outcomes_of([d.alert_id for d in wrapped])
    hubs = sorted({o.chf_id for o in outcomes.values() if type(o) is ForwardedAlert})
    fleet = store.fleet.lookup(hubs, hubs, esmes=True) if hubs else None
    for delivery in wrapped:
        outcome = outcomes.get(delivery.alert_id)
        if outcome is None:
            continue
        esme = None if fleet is None else fleet.esme_for_chf(outcome.chf_id)
        payload = envelope(
            outcome,
            None if esme is None else esme.device_id,
            None if esme is None else esme.mpan,
            delivery.content_type,
            delivery.payload,
            at,
        )
        found[delivery.id] = Body(CONTENT_TYPE, payload)
    return found
