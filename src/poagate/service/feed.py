"""The pull feed (``GET /v1/alerts/forwarded``, spec §18): each forwarded or released AD1 as the
record its webhook's payload carries (``poagate.formats.envelope.AlertData``), so a DNO reading
the feed and one receiving webhooks read the same fields: ``type`` (``ad1.forwarded`` or
``ad1.released``), the times, the routing (``esme_id``, ``mpan``), the reason, and for a release
its time, reason, activation and window. A forwarded AD1's ``esme_id`` and ``mpan`` are its hub's
ESME in the inventory in force (R8 routed it by the same row).
"""

from __future__ import annotations

from datetime import datetime

from poagate.domain.outcomes import ForwardedAlert
from poagate.formats.envelope import AlertData, alert_data
from poagate.store.ports import FeedReads


def feed_entries(
    store: FeedReads,
    network_operators: frozenset[str] | None,
    after_alert_id: str | None = None,
    limit: int = 100,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AlertData]:
    """A page of the feed of ``network_operators`` (None: all), after the AD1 named."""
    found = store.listings.feed_outcomes(network_operators, after_alert_id, limit, since, until)
    hubs = sorted({o.chf_id for o in found if type(o) is ForwardedAlert})
    fleet = store.fleet.lookup(hubs, hubs, esmes=True) if hubs else None
    entries = []
    for outcome in found:
        esme = None if fleet is None else fleet.esme_for_chf(outcome.chf_id)
        entries.append(
            alert_data(
                outcome,
                None if esme is None else esme.device_id,
                None if esme is None else esme.mpan,
            )
        )
    return entries
