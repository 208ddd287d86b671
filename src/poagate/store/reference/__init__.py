"""Reference data (spec §3, §11): what every decision reads and DCC operations load.

* ``config`` — the configuration in force and its versions;
* ``guid_list`` — the GUID list's versions, staged a block at a time;
* ``fleet``, ``fleet_changes``, ``fleet_reads``, ``fleet_blocks`` — the inventory: its
  versions, full loads staged beside the version in force and switched in at once, change
  files, and reading the devices and hub routes a group of events names from packed blocks.

A store holds the configuration and the GUID list as ``store.reference`` (``ReferenceData``)
and the inventory as ``store.fleet`` (``fleet.FleetStore``).
"""

from __future__ import annotations

from poagate.store.reference.config import Configuration
from poagate.store.reference.guid_list import GuidLists


class ReferenceData(Configuration, GuidLists):
    """The configuration in force and the GUID list's versions, on one database."""
