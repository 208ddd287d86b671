"""The service's device cache: what the store says, and a new inventory load empties it."""

from __future__ import annotations

from dataclasses import replace

from poagate.formats.inventory import InventoryFile
from poagate.service.device_cache import DeviceCache
from poagate.store.database import open_store
from tests.helpers import CHF, CHF_2, ESME, ESME_2, esme, hub, mpan, ts


def load(store, *devices) -> None:  # type: ignore[no-untyped-def]
    store.reference.load_inventory(
        InventoryFile(devices, (), len(devices)), "inv.csv", "sha", ts("2026-03-01T00:00:00Z")
    )


def test_the_cache_answers_as_the_store_and_follows_a_new_load(database: str) -> None:
    with open_store(database, "service") as store:
        load(store, esme(), hub(), esme(ESME_2, CHF_2), hub(CHF_2))
        cache = DeviceCache()
        first = cache.devices_for(store.reference, [ESME], [CHF, CHF_2])
        assert sorted(d.device_id for d in first) == sorted(
            d.device_id for d in store.reference.devices_for([ESME], [CHF, CHF_2])
        )
        assert {d.device_id for d in first} == {ESME, ESME_2}
        # Unknown devices and hubs without an ESME are remembered as such.
        assert cache.devices_for(store.reference, ["00-00-00-00-00-00-00-09"], [ESME]) == []
        # A new load moves ESME to another DNO: the next group sees it.
        moved = replace(esme(), mpan=mpan("13"), network_operator="13")
        load(store, moved)
        [again] = cache.devices_for(store.reference, [ESME], [])
        assert again.network_operator == "13"
