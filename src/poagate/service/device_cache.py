"""The devices event groups ask for, kept in each server process while the inventory is
unchanged."""

from __future__ import annotations

from collections.abc import Sequence

from poagate.domain.reference import Device, DeviceType
from poagate.store.reference import ReferenceData


class DeviceCache:
    """The devices groups asked for, kept while the inventory is unchanged.

    Loading a group's devices was the largest cost of a batch (a fifth of the server's time,
    measured with py-spy). The inventory changes only by a load, which every server process
    sees as a new ``inventory_generation``; the cache is emptied then, and when it grows past
    ``LIMIT`` entries."""

    LIMIT = 2_000_000

    def __init__(self) -> None:
        self._generation = -1
        self._by_id: dict[str, Device | None] = {}
        self._esmes_of_chf: dict[str, tuple[Device, ...]] = {}

    def devices_for(
        self, reference: ReferenceData, device_ids: Sequence[str], chf_ids: Sequence[str]
    ) -> list[Device]:
        """As ``ReferenceData.devices_for``: the targets, and every ESME joined to the CHFs."""
        generation = reference.inventory_generation()
        if (
            generation != self._generation
            or len(self._by_id) + len(self._esmes_of_chf) > self.LIMIT
        ):
            self._generation = generation
            self._by_id.clear()
            self._esmes_of_chf.clear()
        by_id, esmes_of_chf = self._by_id, self._esmes_of_chf
        new_ids = [d for d in device_ids if d not in by_id]
        new_chfs = [c for c in chf_ids if c not in esmes_of_chf]
        if new_ids or new_chfs:
            found = reference.devices_for(new_ids, new_chfs)
            asked_ids, asked_chfs = set(new_ids), set(new_chfs)
            by_id.update(dict.fromkeys(new_ids))
            joined: dict[str, list[Device]] = {c: [] for c in new_chfs}
            for device in found:
                if device.device_id in asked_ids:
                    by_id[device.device_id] = device
                if device.device_type is DeviceType.ESME and device.chf_id in asked_chfs:
                    joined[device.chf_id].append(device)
            esmes_of_chf.update((c, tuple(esmes)) for c, esmes in joined.items())
        wanted: dict[str, Device] = {}
        for device_id in device_ids:
            known = by_id[device_id]
            if known is not None:
                wanted[device_id] = known
        for chf_id in chf_ids:
            for esme in esmes_of_chf[chf_id]:
                wanted[esme.device_id] = esme
        return list(wanted.values())
