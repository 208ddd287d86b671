"""R1 — eligibility of a firmware activation, with its reason codes in the spec's order."""

from __future__ import annotations

from enum import StrEnum

from poagate.domain.reference import Config, Device, DeviceType, Fleet, GuidList, SmetsVersion


class Reason(StrEnum):
    """Why an activation record has or has not opened a window (spec §5 R1, §7)."""

    DEVICE_NOT_IN_INVENTORY = "device_not_in_inventory"
    NOT_ESME = "not_esme"
    NOT_SMETS2 = "not_smets2"
    MANUFACTURER_NOT_LISTED = "manufacturer_not_listed"
    NOT_ON_GUID_LIST = "not_on_guid_list"
    NO_CHF_ASSOCIATION = "no_chf_association"
    ELIGIBLE = "eligible"
    CANCELLATION = "cancellation"


def judge_eligibility(
    device_id: str, inventory: Fleet, guid_list: GuidList, config: Config
) -> tuple[Reason, Device | None]:
    """R1: the first failing check gives the reason; the device is returned when known."""
    device = inventory.get(device_id)
    if device is None:
        return Reason.DEVICE_NOT_IN_INVENTORY, None
    if device.device_type is not DeviceType.ESME:
        return Reason.NOT_ESME, device
    if device.smets_version is not SmetsVersion.SMETS2:
        return Reason.NOT_SMETS2, device
    if not config.lists_manufacturer(device.manufacturer):
        return Reason.MANUFACTURER_NOT_LISTED, device
    if device_id not in guid_list:
        return Reason.NOT_ON_GUID_LIST, device
    if device.chf_id is None:
        return Reason.NO_CHF_ASSOCIATION, device
    return Reason.ELIGIBLE, device
