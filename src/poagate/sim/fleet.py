"""A simulated fleet: premises with an ESME and the Communications Hub it powers.

Seeded and deterministic. Premises are spread over the 14 DNO areas by customer numbers and
clustered into postcode districts and sectors, so that an area storm takes out whole sectors.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from poagate.domain.ids import mpan_check_digit
from poagate.domain.reference import Device, DeviceType, SmetsVersion
from poagate.sim.areas import DNO_AREAS

LANDIS_GYR = "LANDIS+GYR"
# Other ESME makers, with rough relative shares; the inventory's spelling varies in case and
# spacing, which R1 must tolerate.
OTHER_MANUFACTURERS = (("SECURE", 0.30), ("EDMI", 0.15), ("ACLARA", 0.10), ("KAIFA", 0.05))
HUB_MAKERS = ("TOSHIBA", "WNC")
_LG_SPELLINGS = ("LANDIS+GYR", "Landis+Gyr", "landis+gyr", " LANDIS+GYR ")


@dataclass(frozen=True, slots=True)
class FleetSpec:
    esmes: int = 20_000
    landis_gyr_share: float = 0.40
    smets1_share: float = 0.03  # SMETS1 ESMEs never qualify
    guid_coverage: float = 0.92  # share of L+G SMETS2 ESMEs on the GUID list
    sites_per_sector: int = 60
    seed: int = 1


@dataclass(slots=True)
class Site:
    """One premises: its ESME, the hub (CHF) it powers, where it is and who distributes to it."""

    esme_id: str
    chf_id: str
    mpan: str
    network_operator: str
    postcode: str
    manufacturer: str
    smets_version: SmetsVersion
    on_guid_list: bool

    @property
    def sector(self) -> str:
        return self.postcode[:-2]

    @property
    def district(self) -> str:
        return self.postcode.split(" ")[0]

    @property
    def qualifies(self) -> bool:
        """Whether poagate should open a window for this site's firmware activations (R1)."""
        return (
            self.smets_version is SmetsVersion.SMETS2
            and self.manufacturer.strip().upper() == LANDIS_GYR
            and self.on_guid_list
        )


@dataclass(slots=True)
class Fleet:
    spec: FleetSpec
    sites: list[Site] = field(default_factory=list)

    def devices(self) -> Iterator[Device]:
        """The inventory rows: each ESME and each hub."""
        for s in self.sites:
            yield Device(
                device_id=s.esme_id,
                device_type=DeviceType.ESME,
                smets_version=s.smets_version,
                manufacturer=s.manufacturer,
                chf_id=s.chf_id,
                mpan=s.mpan,
                network_operator=s.network_operator,
                postcode=s.postcode,
            )
            yield Device(
                device_id=s.chf_id,
                device_type=DeviceType.CHF,
                smets_version=s.smets_version,
                manufacturer=HUB_MAKERS[int(s.chf_id[-1], 16) % 2],
                postcode=s.postcode,
            )

    def guid_list(self) -> list[str]:
        return [s.esme_id for s in self.sites if s.on_guid_list]


def _eui64(prefix: int, serial: int) -> str:
    raw = f"{prefix:06X}{serial:010X}"
    return "-".join(raw[i : i + 2] for i in range(0, 16, 2))


def _mpan(rng: random.Random, distributor_id: str) -> str:
    first = distributor_id + "".join(rng.choice("0123456789") for _ in range(10))
    return first + str(mpan_check_digit(first))


def generate_fleet(spec: FleetSpec) -> Fleet:
    rng = random.Random(spec.seed)
    fleet = Fleet(spec)
    weights = [a.customers_m for a in DNO_AREAS]
    others = [m for m, _ in OTHER_MANUFACTURERS]
    other_weights = [w for _, w in OTHER_MANUFACTURERS]
    # Premises come in sectors of about sites_per_sector, each sector in one district of one
    # postcode area of one DNO area.
    sector_left = 0
    area = DNO_AREAS[0]
    sector = ""
    units: set[str] = set()
    for serial in range(spec.esmes):
        if sector_left == 0:
            area = rng.choices(DNO_AREAS, weights)[0]
            letters = rng.choice(area.postcode_areas)
            sector = f"{letters}{rng.randint(1, 40)} {rng.randint(0, 9)}"
            sector_left = max(1, int(rng.gauss(spec.sites_per_sector, spec.sites_per_sector / 4)))
            units = set()
        sector_left -= 1
        unit = "".join(rng.choice("ABDEFGHJLNPQRSTUWXYZ") for _ in range(2))
        while unit in units and len(units) < 400:
            unit = "".join(rng.choice("ABDEFGHJLNPQRSTUWXYZ") for _ in range(2))
        units.add(unit)
        is_lg = rng.random() < spec.landis_gyr_share
        manufacturer = rng.choice(_LG_SPELLINGS) if is_lg else rng.choices(others, other_weights)[0]
        smets = SmetsVersion.SMETS1 if rng.random() < spec.smets1_share else SmetsVersion.SMETS2
        on_list = is_lg and smets is SmetsVersion.SMETS2 and rng.random() < spec.guid_coverage
        fleet.sites.append(
            Site(
                esme_id=_eui64(0x00DB12 if is_lg else 0x0012A3, serial),
                chf_id=_eui64(0x00157B, serial),
                mpan=_mpan(rng, area.distributor_id),
                network_operator=area.distributor_id,
                postcode=f"{sector}{unit}",
                manufacturer=manufacturer,
                smets_version=smets,
                on_guid_list=on_list,
            )
        )
    return fleet
