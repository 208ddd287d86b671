"""What a group of messages reads before it decides (``poagate.service.ingest``): ahead of the
writers' lock, outside its transaction, then confirmed under the lock (``poagate.store.marks``).

``GroupReading`` is one per server process (one per ``Ingestor``). It keeps the devices and hub
routes groups asked for (``DeviceCache``), and the configuration and the GUID list's version
last confirmed under the lock with the marks they were read after: a group whose marks read
ahead are those reads neither again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from poagate.domain.events import Activation, Ad1Alert, Event, Ignored
from poagate.domain.outcomes import ActivationRecord
from poagate.domain.reference import FleetSlice, GuidList, GuidListVersion
from poagate.formats.settings import Settings
from poagate.service.reference.device_cache import DeviceCache
from poagate.store.marks import Marks
from poagate.store.ports import GroupReads


class GroupReading:
    """See the module docstring."""

    def __init__(self) -> None:
        self._devices = DeviceCache()
        self._known: Known | None = None

    def ahead(self, reader: GroupReads, keys: Keys) -> Reads:
        """Outside the transaction, the marks first."""
        return self.read(reader, keys, ahead=True)

    def read(self, reader: GroupReads, keys: Keys, ahead: bool = False) -> Reads:
        """What the group's gate is restored from (see the module docstring). ``ahead``:
        outside the transaction, with the marks read first, and with the configuration and the
        GUID list's version as last confirmed when their marks are as they were then."""
        marks = reader.marks() if ahead else None
        known = self._known
        if marks is None or known is None or not marks.same_reference(known.marks):
            known = None
        settings = reader.settings() if known is None else known.settings
        area = settings.gate_config().area_outage_threshold is not None
        # With area-outage on, the hubs themselves too, and the ESMEs they route to: their
        # postcodes give the sectors.
        wanted = sorted({*keys.targets, *keys.chf_ids}) if area else keys.targets
        generation = None if marks is None else marks.inventory
        fleet = self._devices.lookup(reader.fleet, wanted, keys.chf_ids, area, generation)
        # The hubs of the targets: an AD1 later in the group may fall in a window they open.
        hubs = sorted(
            {d.chf_id for d in fleet.devices.values() if d is not None and d.chf_id is not None}
            | set(keys.chf_ids)
        )
        if known is not None and not keys.targets:  # no device to look for on the GUID list
            guid_list = GuidList(known.guid_version, frozenset())
        else:
            guid_list = reader.guid_list_for(keys.targets)
        return Reads(
            marks,
            settings,
            fleet,
            hubs,
            guid_list,
            reader.activations_for(keys.request_ids, hubs, keys.targets),
            reader.decided_among(keys.alert_ids),
        )

    def confirm(self, unit: GroupReads, keys: Keys, ahead: Reads | None) -> Reads:
        """Under the writers' lock: what was read ahead, if the configuration, the inventory
        and the GUID list are as they were then, with the activations read again if they
        changed since, the GUID list's entries of the group's activations, and the alert_ids
        decided since; else everything read again."""
        if ahead is None or ahead.marks is None:
            return self.read(unit, keys)
        now = unit.marks()
        if not now.same_reference(ahead.marks):
            return self.read(unit, keys)
        if now.activations != ahead.marks.activations:
            ahead.activations = unit.activations_for(keys.request_ids, ahead.hubs, keys.targets)
        if keys.targets:  # activations: their devices' entries, whatever the marks say
            ahead.guid_list = unit.guid_list_for(keys.targets)
        ahead.decided |= unit.decided_since(keys.alert_ids, ahead.marks.last_seq, now.last_seq)
        # Read between two equal marks: what the configuration and the GUID list are at them.
        self._known = Known(ahead.marks, ahead.settings, ahead.guid_list.version)
        return ahead


@dataclass(slots=True)
class Keys:
    """What a group's events name, which is what it reads."""

    alerts: list[Ad1Alert]
    alert_ids: list[str]
    chf_ids: list[str]  # the AD1s' hubs
    request_ids: list[str]  # the activations'
    targets: list[str]  # the devices the activations name

    @classmethod
    def of(cls, events: Sequence[Event | Ignored]) -> Keys:
        alerts = [e for e in events if isinstance(e, Ad1Alert)]
        activations = [e for e in events if isinstance(e, Activation)]
        return cls(
            alerts,
            sorted({e.alert_id for e in alerts}),
            sorted({e.chf_id for e in alerts}),
            sorted({e.request_id for e in activations}),
            sorted({e.device_id for e in activations}),
        )


@dataclass(slots=True)
class Reads:
    """What a group's gate is restored from, and the marks it was read after when read ahead
    of the writers' lock (``poagate.store.marks``)."""

    marks: Marks | None
    settings: Settings
    fleet: FleetSlice
    hubs: list[str]  # whose windows the group reads: its AD1s' and its targets' hubs
    guid_list: GuidList
    activations: list[ActivationRecord]
    decided: set[str]


@dataclass(frozen=True, slots=True)
class Known:
    """The configuration and the GUID list's version as last confirmed under the writers'
    lock, and the marks they were read after."""

    marks: Marks
    settings: Settings
    guid_version: GuidListVersion | None
