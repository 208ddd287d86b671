"""A replay's view of the fleet (spec §11): no Python object per device of a national fleet.

The gate reads the fleet through a ``FleetSlice``; before each stretch of events is decided,
the devices and hubs it names are read from the store into the slice in a few statements (and
through a ``DeviceCache``, so a small fleet is read once), and the GUID list's entries for the
devices it activates.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar, cast

from poagate.domain.events import Activation, Ad1Alert, Event, Ignored
from poagate.domain.gate import Gate
from poagate.domain.reference import Config, FleetSlice, GuidList
from poagate.formats.errors import InputError
from poagate.service.inputs import Item
from poagate.service.reference.device_cache import DeviceCache
from poagate.store.store import Store

# Events read ahead at a time, so that the fleet they name is read from the store in one go.
LOOKAHEAD = 20_000
_T = TypeVar("_T")


def restore_gate(store: Store, config: Config) -> Gate:
    """The gate with everything decided before, reading the fleet through a ``FleetSlice``
    that a ``Lookahead`` fills for each stretch of events."""
    fleet = FleetSlice()
    gate = Gate(fleet, GuidList(store.reference.guid_version(), frozenset()), config)
    gate.restore(store.activations.records(), store.alerts.decided_ids())
    guards = gate.guards
    if guards.active:
        # Every sign of life, then every decided AD1, a stretch at a time: the slice holds the
        # devices and hubs of one stretch (the guards ask the fleet about each as they
        # restore it), so memory does not grow with the history or the fleet (spec §11).
        for signs in _stretches(store.signs.all()):
            fleet.clear()
            store.fleet.fill(fleet, list(dict.fromkeys(d for d, _ in signs)), [], True)
            guards.restore(signs, ())
        for outcomes in _stretches(store.listings.ad1_outcomes()):
            hubs = list(dict.fromkeys(o.chf_id for o in outcomes))
            fleet.clear()
            store.fleet.fill(fleet, hubs, hubs, True)
            guards.restore((), outcomes)
        fleet.clear()
    return gate


def _stretches(items: Iterable[_T]) -> Iterator[list[_T]]:
    iterator = iter(items)
    while stretch := list(islice(iterator, LOOKAHEAD)):
        yield stretch


class Lookahead:
    """Reads the fleet and the GUID list for a stretch of events before the gate decides
    them: the devices activations name, and device messages when a guard waits for signs of
    life (release-if-dark, verification); the hubs of AD1s (and with area-outage the hubs
    themselves and the ESMEs they route to)."""

    def __init__(self, store: Store, gate: Gate) -> None:
        self._store = store
        self._gate = gate
        self._fleet = cast(FleetSlice, gate.inventory)
        self._cache = DeviceCache()
        self._signs = gate.guards.keeps_signs
        self._area = gate.guards.area_threshold is not None

    def read(self, items: list[Item]) -> None:
        targets: dict[str, None] = {}
        named: dict[str, None] = {}
        hubs: dict[str, None] = {}
        for item in items:
            event = item[4]
            kind = type(event)
            if kind is Ad1Alert:
                hubs[cast(Ad1Alert, event).chf_id] = None
            elif kind is Activation:
                targets[cast(Activation, event).device_id] = None
            elif self._signs and kind is not InputError and kind is not Ignored:
                named[cast(Event, event).device_id] = None  # type: ignore[union-attr]
        devices = [*targets, *named, *(hubs if self._area else ())]
        fleet = self._fleet
        fleet.clear()
        found = self._cache.lookup(self._store.fleet, devices, list(hubs), self._area)
        fleet.devices.update(found.devices)
        fleet.routes.update(found.routes)
        version = self._gate.guid_list.version
        if targets and version is not None:
            self._gate.guid_list = self._store.reference.guid_list_for(list(targets))


def read_ahead(items: Iterator[Item], lookahead: Lookahead) -> Iterator[Item]:
    """``items``, a stretch at a time, each stretch's fleet read before it is decided."""
    while True:
        stretch = list(islice(items, LOOKAHEAD))
        if not stretch:
            return
        lookahead.read(stretch)
        yield from stretch
