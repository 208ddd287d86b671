"""The devices and hub routes event groups ask for, kept in each server process while the
inventory in force is unchanged, within a fixed number of entries."""

from __future__ import annotations

from collections.abc import Sequence

from poagate.domain.reference import FleetSlice
from poagate.store.ports import FleetLookup


class DeviceCache:
    """What groups asked the fleet, kept while the inventory is unchanged.

    Loading a group's devices was the largest cost of a batch (a fifth of the server's time,
    measured with py-spy). The inventory changes only by a full load's switch or a change file,
    which every server process sees as a new ``generation``; the cache is emptied then, and when
    it holds ``LIMIT`` entries. The limit keeps a server's memory whatever the fleet (about 300
    bytes an entry): a fleet of 20,000 ESMEs stays in it whole, a national one (spec §11) is
    read from the store as needed.
    """

    LIMIT = 200_000

    def __init__(self) -> None:
        self._generation = -1
        self._known = FleetSlice()

    def lookup(
        self,
        fleet: FleetLookup,
        device_ids: Sequence[str],
        chf_ids: Sequence[str],
        esmes: bool,
        generation: int | None = None,
    ) -> FleetSlice:
        """As ``FleetReads.lookup``: the devices and the routes of the hubs (with ``esmes``, the
        ESMEs they route to as well). ``generation``: the inventory's, when the caller has just
        read it (``poagate.store.marks``), else it is read here."""
        known = self._known
        if generation is None:
            generation = fleet.generation()
        if generation != self._generation or len(known.devices) + len(known.routes) > self.LIMIT:
            self._generation = generation
            known.clear()
        devices, routes = known.devices, known.routes
        new_ids = [d for d in device_ids if d not in devices]
        new_chfs = [c for c in chf_ids if c not in routes]
        if esmes:
            new_ids += [
                esme
                for c in chf_ids
                if c in routes and (esme := routes[c].esme_id) is not None and esme not in devices
            ]
        if new_ids or new_chfs:
            fleet.fill(known, new_ids, new_chfs, esmes)
        wanted = FleetSlice()
        for device_id in device_ids:
            wanted.devices[device_id] = devices[device_id]
        for chf_id in chf_ids:
            route = routes[chf_id]
            wanted.routes[chf_id] = route
            if esmes and route.esme_id is not None:
                wanted.devices[route.esme_id] = devices[route.esme_id]
        return wanted
