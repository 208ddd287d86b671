"""The service's device cache: what the store says, and a new version empties it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from poagate.domain.reference import Device
from poagate.formats.reference.inventory import write_inventory
from poagate.service.reference.device_cache import DeviceCache
from poagate.service.reference.loads import load_inventory
from poagate.store.database import open_store
from poagate.store.store import Store
from tests.helpers import CHF, CHF_2, ESME, ESME_2, esme, hub, mpan, ts


def load(store: Store, directory: Path, *devices: Device) -> None:
    path = directory / f"inventory-{len(list(directory.iterdir()))}.csv"
    with path.open("w", newline="") as f:
        write_inventory(devices, f)
    load_inventory(store, path, ts("2026-03-01T00:00:00Z"))


def test_the_cache_answers_as_the_store_and_follows_a_new_version(
    database: str, tmp_path: Path
) -> None:
    fleet = [esme(), hub(), esme(ESME_2, CHF_2), hub(CHF_2)]
    with open_store(database, "service") as store:
        load(store, tmp_path, *fleet)
        cache = DeviceCache()
        first = cache.lookup(store.fleet, [ESME], [CHF, CHF_2], esmes=True)
        direct = store.fleet.lookup([ESME], [CHF, CHF_2], esmes=True)
        assert first.devices == direct.devices
        assert first.routes == direct.routes
        assert first.esme_for_chf(CHF_2) == esme(ESME_2, CHF_2)
        # Unknown devices and hubs without an ESME are remembered as such.
        unknown = cache.lookup(store.fleet, ["00-00-00-00-00-00-00-09"], [ESME], esmes=True)
        assert unknown.get("00-00-00-00-00-00-00-09") is None
        assert unknown.network_operator_of_chf(ESME) == ""
        # A new load moves ESME to another DNO: the next group sees it.
        moved = replace(esme(), mpan=mpan("13"), network_operator="13")
        load(store, tmp_path, moved, *fleet[1:])
        again = cache.lookup(store.fleet, [ESME], [CHF], esmes=False)
        assert again.get(ESME) == moved
        assert again.network_operator_of_chf(CHF) == "13"
