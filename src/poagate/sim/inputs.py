"""A simulated fleet and its traffic written as the files ``poagate replay`` reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from poagate.formats.inventory import write_inventory
from poagate.sim.fleet import Fleet
from poagate.sim.traffic import Traffic


@dataclass(frozen=True, slots=True)
class ReplayInputs:
    inventory: Path
    guid_list: Path
    events: list[Path]


def write_replay_inputs(fleet: Fleet, traffic: Traffic, directory: Path) -> ReplayInputs:
    """The inventory CSV, the GUID list and the event files, in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    inventory = directory / "inventory.csv"
    with inventory.open("w", newline="") as f:
        write_inventory(fleet.devices(), f)
    guid_list = directory / "guid-list.txt"
    guid_list.write_text(
        "# GUID list: ESMEs subject to AD1 suppression\n" + "\n".join(fleet.guid_list()) + "\n"
    )
    return ReplayInputs(inventory, guid_list, traffic.write(directory))
