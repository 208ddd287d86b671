"""What the rules read: the inventory, the GUID list in force, and the configuration (spec §3)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from poagate.domain.values import value


class DeviceType(StrEnum):
    ESME = "ESME"
    GSME = "GSME"
    CHF = "CHF"
    GPF = "GPF"
    PPMID = "PPMID"
    HCALCS = "HCALCS"


class SmetsVersion(StrEnum):
    SMETS1 = "SMETS1"
    SMETS2 = "SMETS2"


def normalise_manufacturer(name: str) -> str:
    """Manufacturers compare case-insensitively and trimmed (spec §3)."""
    return name.strip().casefold()


@value
class Device:
    """One row of the Smart Metering Inventory, validated."""

    device_id: str
    device_type: DeviceType
    smets_version: SmetsVersion
    manufacturer: str
    chf_id: str | None = None
    mpan: str | None = None
    network_operator: str = ""  # explicit, else the MPAN's first two digits, else empty
    postcode: str | None = None


class Fleet(Protocol):
    """What the rules read of the inventory in force (R1, R8, spec §9): a device, and what a
    hub routes to. ``Inventory`` holds devices in dictionaries (tests, small fleets);
    ``FleetSlice`` holds just the part of a national fleet that a group of events asked the
    store for (spec §11)."""

    def get(self, device_id: str) -> Device | None: ...

    def esme_for_chf(self, chf_id: str) -> Device | None:
        """R8: the ESME joined to a CHF; with several, the one with the smallest Device ID."""
        ...

    def network_operator_of_chf(self, chf_id: str) -> str:
        """R8: the network operator of ``esme_for_chf``, or "" when no ESME is known."""
        ...


@value
class Route:
    """R8 for one hub: the ESME joined to it with the smallest Device ID (None when none is),
    and that ESME's network operator ("" when none)."""

    esme_id: str | None
    network_operator: str


NO_ROUTE = Route(None, "")


class FleetSlice:
    """The devices and hub routes a group of events needs, read from the store in one go.

    A device or hub not looked up reads as unknown, so whoever fills a slice asks for every
    device its events name and every hub their alerts come from (and, where the spec §9 sector
    of a hub is needed, the ESMEs it routes to)."""

    __slots__ = ("devices", "routes")

    def __init__(self) -> None:
        self.devices: dict[str, Device | None] = {}
        self.routes: dict[str, Route] = {}

    def clear(self) -> None:
        self.devices.clear()
        self.routes.clear()

    def get(self, device_id: str) -> Device | None:
        return self.devices.get(device_id)

    def esme_for_chf(self, chf_id: str) -> Device | None:
        esme_id = self.routes.get(chf_id, NO_ROUTE).esme_id
        return None if esme_id is None else self.devices.get(esme_id)

    def network_operator_of_chf(self, chf_id: str) -> str:
        return self.routes.get(chf_id, NO_ROUTE).network_operator


class Inventory:
    """The devices in force, with an index from each CHF to the ESMEs joined to it.

    Loading a row for a device that is already known replaces it, so a Communications Hub
    exchange moves the ESME from its old CHF to the new one (spec §3).
    """

    __slots__ = ("_devices", "_esmes_by_chf", "_operator_by_chf")

    def __init__(self, devices: Iterable[Device] = ()) -> None:
        self._devices: dict[str, Device] = {}
        self._esmes_by_chf: dict[str, list[str]] = {}
        # R8 answers for CHFs already asked about; any change to the inventory forgets them.
        self._operator_by_chf: dict[str, str] = {}
        self.upsert_all(devices)

    def __len__(self) -> int:
        return len(self._devices)

    def __iter__(self) -> Iterator[Device]:
        return iter(self._devices.values())

    def get(self, device_id: str) -> Device | None:
        return self._devices.get(device_id)

    def upsert(self, device: Device) -> None:
        if self._operator_by_chf:
            self._operator_by_chf.clear()
        old = self._devices.get(device.device_id)
        if old is not None and old.chf_id is not None and old.device_type is DeviceType.ESME:
            joined = self._esmes_by_chf.get(old.chf_id)
            if joined is not None:
                joined.remove(old.device_id)
                if not joined:
                    del self._esmes_by_chf[old.chf_id]
        self._devices[device.device_id] = device
        if device.chf_id is not None and device.device_type is DeviceType.ESME:
            self._esmes_by_chf.setdefault(device.chf_id, []).append(device.device_id)

    def upsert_all(self, devices: Iterable[Device]) -> None:
        if self._devices:
            for device in devices:
                self.upsert(device)
            return
        # Into an empty inventory (the usual load): nothing to replace, so no old hub to leave.
        known = self._devices
        joined = self._esmes_by_chf
        esme = DeviceType.ESME
        for device in devices:
            old = known.get(device.device_id)
            if old is not None:
                self.upsert(device)  # the same device twice in one load: the later one wins
                continue
            known[device.device_id] = device
            if device.chf_id is not None and device.device_type is esme:
                joined.setdefault(device.chf_id, []).append(device.device_id)

    def esme_for_chf(self, chf_id: str) -> Device | None:
        """R8: the ESME joined to a CHF; with several, the one with the smallest Device ID."""
        joined = self._esmes_by_chf.get(chf_id)
        if not joined:
            return None
        return self._devices[min(joined)]

    def network_operator_of_chf(self, chf_id: str) -> str:
        """R8: the network operator of ``esme_for_chf``, or "" when no ESME is known."""
        operator = self._operator_by_chf.get(chf_id)
        if operator is None:
            esme = self.esme_for_chf(chf_id)
            operator = "" if esme is None else esme.network_operator
            self._operator_by_chf[chf_id] = operator
        return operator


@value
class GuidListVersion:
    """One load of the GUID list: when, how many Device IDs, and the SHA-256 of their content."""

    number: int
    loaded_at: datetime
    entry_count: int
    sha256: str


@value
class GuidList:
    """The GUID list in force: the ESMEs the DCC was told are subject to suppression."""

    version: GuidListVersion | None
    devices: frozenset[str]

    def __contains__(self, device_id: str) -> bool:
        return device_id in self.devices


EMPTY_GUID_LIST = GuidList(version=None, devices=frozenset())


DEFAULT_MANUFACTURERS = ("LANDIS+GYR",)
DEFAULT_AREA_OUTAGE_SECONDS = 900  # spec §9: 15 minutes, the span docs/guards.md measured
# spec §14 verification guard: T and A when V switches it on (the recommended values,
# docs/guards.md).
DEFAULT_VERIFY_TIMEOUT_MINUTES = 4
DEFAULT_VERIFY_ATTEMPTS = 2


@value
class Config:
    """The gate's configuration (spec §3); every field has the spec's default."""

    manufacturers: tuple[str, ...] = DEFAULT_MANUFACTURERS
    window_minutes: int = 30
    skew_tolerance_seconds: int = 0
    # spec §9 guards, off by default (None).
    release_after_minutes: int | None = None
    area_outage_threshold: int | None = None
    area_outage_seconds: int = DEFAULT_AREA_OUTAGE_SECONDS
    # spec §12: an operator may suspend suppression; every AD1 is then forwarded.
    suppression_enabled: bool = True
    # spec §14 verification guard, off by default (V None).
    verify_after_minutes: int | None = None
    verify_timeout_minutes: int = DEFAULT_VERIFY_TIMEOUT_MINUTES
    verify_attempts: int = DEFAULT_VERIFY_ATTEMPTS

    def __post_init__(self) -> None:
        for name in ("verify_after_minutes", "verify_timeout_minutes", "verify_attempts"):
            number = getattr(self, name)
            if number is not None and number <= 0:
                raise ValueError(f"{name} must be positive, not {number}")
        if self.release_after_minutes is not None and self.release_after_minutes <= 0:
            raise ValueError(
                f"release_after_minutes must be positive, not {self.release_after_minutes}"
            )
        if self.area_outage_threshold is not None and self.area_outage_threshold <= 0:
            raise ValueError(
                f"area_outage_threshold must be positive, not {self.area_outage_threshold}"
            )
        if self.area_outage_seconds <= 0:
            raise ValueError(
                f"area_outage_seconds must be positive, not {self.area_outage_seconds}"
            )
        if self.window_minutes <= 0:
            raise ValueError(f"window_minutes must be positive, not {self.window_minutes}")
        if self.skew_tolerance_seconds < 0:
            raise ValueError(
                f"skew_tolerance_seconds must be zero or more, not {self.skew_tolerance_seconds}"
            )
        if any(not m.strip() for m in self.manufacturers):
            raise ValueError("manufacturers may not contain an empty name")

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.window_minutes)

    @property
    def skew_tolerance(self) -> timedelta:
        return timedelta(seconds=self.skew_tolerance_seconds)

    def lists_manufacturer(self, manufacturer: str) -> bool:
        wanted = normalise_manufacturer(manufacturer)
        return any(normalise_manufacturer(m) == wanted for m in self.manufacturers)
