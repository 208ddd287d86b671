"""Seeded national-scale reference files for ``benchmarks/fleet.py``: an inventory of N ESMEs and
their hubs (2N rows), its GUID list, a change file, and event files.

``poagate.sim.fleet`` builds a fleet as Python objects, a site at a time (35 µs a site): fine for
a simulated month, hours for 20 million ESMEs. These files are written with numpy, a few
million rows a minute, with the same shape: sites in postcode sectors of about 60, the 14 DNO
areas by customer numbers, 40% Landis+Gyr in the inventory's varied spellings, 3% SMETS1, 92%
of the qualifying meters on the GUID list. Hub ``i`` is ``00-15-7B`` and the 40-bit serial
``i``; its ESME is ``00-DB-12`` (Landis+Gyr) or ``00-12-A3`` and the same serial, so a load
generator can name hub ``i`` without holding the fleet.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from poagate.sim.areas import DNO_AREAS

LG_SPELLINGS = ("LANDIS+GYR", "Landis+Gyr", "landis+gyr", " LANDIS+GYR ")
OTHERS = ("SECURE", "EDMI", "ACLARA", "KAIFA")
HEADER = (
    "device_id,device_type,smets_version,manufacturer,model,chf_id,mpan,network_operator,postcode"
)
WEIGHTS = np.array((3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43))
CHUNK = 500_000
SECTOR_LETTERS = "ABCDEFGHJKLMNOPRSTUWY"
UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
UNITS = [a + b for a in UNIT_LETTERS for b in UNIT_LETTERS]


def device_id(prefix: str, serial: int) -> str:
    return ((int(prefix, 16) << 40) | serial).to_bytes(8, "big").hex("-").upper()


def hub_id(serial: int) -> str:
    return device_id("00157B", serial)


def write_inventory(directory: Path, esmes: int, seed: int = 7) -> dict[str, Path]:
    """The inventory, GUID list and a 100,000-row change file of a fleet of ``esmes`` sites
    (kept when already written with the same size and seed)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "inventory": directory / f"inventory-{esmes}-{seed}.csv",
        "guid_list": directory / f"guid-{esmes}-{seed}.txt",
        "changes": directory / f"changes-{esmes}-{seed}.csv",
    }
    if all(p.exists() for p in paths.values()):
        return paths
    rng = np.random.default_rng(seed)
    areas = [a.distributor_id for a in DNO_AREAS]
    shares = np.array([a.customers_m for a in DNO_AREAS])
    shares = shares / shares.sum()
    with paths["inventory"].open("w") as inventory, paths["guid_list"].open("w") as guid:
        inventory.write(HEADER + "\n")
        guid.write("device_id\n")
        for start in range(0, esmes, CHUNK):
            serials = np.arange(start, min(esmes, start + CHUNK))
            n = len(serials)
            sector_of = serials // 60
            area_index = np.searchsorted(
                np.cumsum(shares), (sector_of * 2654435761 % 2**32) / 2**32
            )
            area_index = np.minimum(area_index, len(areas) - 1)
            lg = rng.random(n) < 0.40
            smets1 = rng.random(n) < 0.03
            on_list = lg & ~smets1 & (rng.random(n) < 0.92)
            makers = np.where(
                lg,
                np.array(LG_SPELLINGS)[rng.integers(0, 4, n)],
                np.array(OTHERS)[rng.integers(0, 4, n)],
            )
            esme_ids = [
                device_id("00DB12" if is_lg else "0012A3", s)
                for is_lg, s in zip(lg.tolist(), serials.tolist(), strict=True)
            ]
            hubs = [hub_id(s) for s in serials.tolist()]
            body = rng.integers(0, 10**10, n)
            area_ids = np.array([int(a) for a in areas])[area_index]
            digits = np.concatenate(
                [
                    np.stack([area_ids // 10, area_ids % 10], axis=1),
                    (body[:, None] // 10 ** np.arange(9, -1, -1)) % 10,
                ],
                axis=1,
            )
            checks = (digits @ WEIGHTS) % 11 % 10
            mpans = [
                f"{a:02d}{b:010d}{c}"
                for a, b, c in zip(area_ids.tolist(), body.tolist(), checks.tolist(), strict=True)
            ]
            first_sector = int(sector_of[0])
            sectors = [
                f"{SECTOR_LETTERS[s % 21]}{UNIT_LETTERS[s // 21 % 20]}{s // 420 % 99 + 1} "
                f"{s // 41580 % 10}"
                for s in range(first_sector, int(sector_of[-1]) + 1)
            ]
            postcodes = [
                sectors[s - first_sector] + UNITS[i % 400]
                for s, i in zip(sector_of.tolist(), serials.tolist(), strict=True)
            ]
            smets = np.where(smets1, "SMETS1", "SMETS2").tolist()
            inventory.write(
                "".join(
                    f"{e},ESME,{v},{m},,{h},{p},,{c}\n{h},CHF,{v},TOSHIBA,,,,,{c}\n"
                    for e, v, m, h, p, c in zip(
                        esme_ids, smets, makers.tolist(), hubs, mpans, postcodes, strict=True
                    )
                )
            )
            guid.write(
                "".join(e + "\n" for e, on in zip(esme_ids, on_list.tolist(), strict=True) if on)
            )
    write_changes(paths["changes"], esmes, seed)
    return paths


def write_changes(path: Path, esmes: int, seed: int, rows: int = 100_000) -> None:
    """A day's changes: hub exchanges (an ESME moved to a new hub), manufacturer corrections,
    removals and new sites, in equal shares."""
    rng = np.random.default_rng(seed + 1)
    picked = rng.choice(esmes, size=min(rows, esmes), replace=False).tolist()
    lines = [f"change,{HEADER}"]
    for n, serial in enumerate(picked):
        kind = n % 4
        esme = device_id("0012A3", serial)  # a non-L+G ESME id (the file may name either)
        if kind == 0:
            new_hub = device_id("00157C", serial)
            lines.append(f"upsert,{new_hub},CHF,SMETS2,WNC,,,,,")
            lines.append(f"upsert,{esme},ESME,SMETS2,SECURE,,{new_hub},1012345678904,,")
        elif kind == 1:
            lines.append(f"upsert,{esme},ESME,SMETS2,EDMI,,{hub_id(serial)},1012345678904,,")
        elif kind == 2:
            lines.append(f"remove,{esme},,,,,,,,")
        else:
            lines.append(
                f"upsert,{device_id('0012A4', serial)},ESME,SMETS2,KAIFA,,{hub_id(serial)},"
                "1012345678904,,"
            )
    path.write_text("\n".join(lines[: rows + 1]) + "\n")


def write_events(
    path: Path, esmes: int, ad1s: int, activations: int, tag: str, seed: int = 11
) -> Path:
    """``activations`` immediate activations of Landis+Gyr meters at the start, then ``ad1s``
    AD1s from hubs drawn across the whole fleet (a tenth from activated ones), a second apart
    in tens."""
    rng = np.random.default_rng(seed)
    lines = []
    serials = rng.choice(esmes, size=min(activations, esmes), replace=False).tolist()
    for n, serial in enumerate(serials):
        lines.append(
            json.dumps(
                {
                    "type": "activation",
                    "request_id": f"90-B3-D5-1F-30-01-00-00:{device_id('00DB12', serial)}:{n}",
                    "received_at": "2026-03-01T10:00:00Z",
                }
            )
        )
    hubs = rng.integers(0, esmes, ad1s)
    near = rng.random(ad1s) < 0.1
    for n in range(ad1s):
        serial = serials[n % len(serials)] if near[n] and serials else int(hubs[n])
        second = 60 + n // 10
        lines.append(
            json.dumps(
                {
                    "type": "ad1",
                    "alert_id": f"{tag}-{n}",
                    "chf_id": hub_id(serial),
                    "received_at": f"2026-03-01T10:{second // 60 % 60:02d}:{second % 60:02d}Z"
                    if second < 3600
                    else f"2026-03-01T{10 + second // 3600:02d}:{second // 60 % 60:02d}:"
                    f"{second % 60:02d}Z",
                }
            )
        )
    path.write_text("\n".join(lines) + "\n")
    return path
