"""A delivery round's writes on each backend: claimed, then recorded in one transaction, with
one statement for what was delivered (``poagate.delivery.worker``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from poagate.store.database import open_store
from poagate.store.outbox import OutboundMessage

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_a_round_records_its_deliveries_at_once_and_nothing_for_none(database: str) -> None:
    with open_store(database, "service") as store:
        with store.transaction():
            store.outbox.enqueue(
                [
                    OutboundMessage(
                        f"R-{n}", "12", f"HUB-{n}", "application/json", b"{}", "pending"
                    )
                    for n in range(5)
                ],
                NOW,
            )
        claimed = store.outbox.claim(NOW, timedelta(minutes=1), 64, "12")
        assert len(claimed) == 5
        with store.transaction():
            store.outbox.delivered([], NOW)  # a round with nothing delivered writes nothing
            store.outbox.delivered([d.id for d in claimed[:3]], NOW)
            store.outbox.failed(claimed[3].id, "HTTP 500", NOW + timedelta(seconds=30))
        states = {
            str(alert_id): str(status)
            for alert_id, status in store.db.fetch("SELECT alert_id, status FROM outbox")
        }
        assert states == {
            "R-0": "delivered",
            "R-1": "delivered",
            "R-2": "delivered",
            "R-3": "pending",  # due again in 30 s
            "R-4": "pending",  # still leased: claimed by nobody else until its lease ends
        }
        assert store.outbox.claim(NOW, timedelta(minutes=1), 64, "12") == []
        later = store.outbox.claim(NOW + timedelta(minutes=2), timedelta(minutes=1), 64, "12")
        assert sorted(d.alert_id for d in later) == ["R-3", "R-4"]
