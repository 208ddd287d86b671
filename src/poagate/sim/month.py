"""What a simulated month is: its specification, why each AD1 was raised (the ground truth),
the traffic made from them (``poagate.sim.traffic`` makes it), and the files ``poagate replay``
reads it from (``write_replay_inputs``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from poagate.formats.reference.inventory import write_inventory
from poagate.sim.answers import RaisedAd1
from poagate.sim.fleet import Fleet
from poagate.sim.power import PowerLog


class Cause(StrEnum):
    """Why an AD1 was raised: the simulator knows; poagate has to infer."""

    FIRMWARE = "firmware"  # a reboot on firmware activation: spurious
    GENUINE = "genuine"  # a real loss of supply
    STORM = "storm"  # a real loss of supply of a whole district in a storm
    BRICKED = "bricked"  # the firmware left the meter dead: the hub is off until a visit

    @property
    def spurious(self) -> bool:
        """Whether a site visit for this AD1 would be wasted."""
        return self is Cause.FIRMWARE


@dataclass(frozen=True, slots=True)
class TrafficSpec:
    start: datetime = datetime(2026, 3, 2, tzinfo=UTC)
    days: float = 7.0
    activations: int = 6_000
    future_share: float = 0.4
    cancel_share: float = 0.05  # of future-dated activations
    supersede_share: float = 0.05  # of future-dated activations
    repeat_share: float = 0.10  # DSP retries and signed pre-commands
    reboot_share: float = 0.6  # L+G activations whose reboot cuts the hub > 3 minutes
    other_reboot_share: float = 0.05  # the same for other manufacturers
    genuine_ad1: int = 3_000
    late_delivery_share: float = 0.01  # AD1s delivered hours late
    missing_event_at_share: float = 0.05
    duplicate_share: float = 0.01
    response_share: float = 0.8  # activations followed by a response or 8F66/8F67
    malformed: int = 20
    duis_share: float = 0.0  # share of lines sent as DUIS XML rather than canonical JSON
    # Genuine single-site outages: how long they last and whether the site is seen again.
    outage_minutes_mean: float = 90.0
    restore_message_share: float = 0.9  # outages after which a device message shows the site
    brick_share: float = 0.0  # of rebooting L+G activations: the meter never comes back
    # A large future-dated campaign executing on one night (in addition to ``activations``).
    campaign_activations: int = 0
    campaign_day: int = 3
    campaign_hours: tuple[float, float] = (1.0, 5.0)
    # A storm: whole postcode districts off supply for hours, about ``storm_sites`` premises.
    storm_sites: int = 0
    storm_day: int = 3
    storm_start_hour: float = 1.5
    storm_hours: tuple[float, float] = (2.0, 8.0)
    # spec §14: each attempt's answer to a verification request is lost with this probability.
    verification_loss: float = 0.02
    seed: int = 1


@dataclass(slots=True)
class Traffic:
    """The generated lines of each feed, sorted, and what really caused each AD1."""

    requests: list[bytes] = field(default_factory=list)
    alerts: list[bytes] = field(default_factory=list)
    truth: dict[str, Cause] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    # What the verification guard's answers are made from (``poagate.sim.answers``).
    raised: list[RaisedAd1] = field(default_factory=list)
    power: PowerLog = field(default_factory=PowerLog)

    def write(self, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, lines in (("requests.jsonl", self.requests), ("alerts.jsonl", self.alerts)):
            path = directory / name
            with path.open("wb") as f:
                f.writelines(lines)
            paths.append(path)
        return paths


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
