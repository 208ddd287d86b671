"""DUIS XML for simulated traffic, in the element layout of spec §6.

The 11.3 request follows the DCC's public templates; the AD1 body is poagate's model of it (see
``poagate.formats.duis``). Signatures are omitted: poagate does not verify them.
"""

from __future__ import annotations

from datetime import datetime

from poagate.formats.timestamps import format_timestamp

_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<sr:{root} xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.1">'
)


def activate_firmware(
    request_id: str,
    execution_at: datetime | None = None,
    command_variant: int = 4,
    firmware_hash: str = "AA758690730934FF0685AA758690730934FF0685657788990011223344556677",
) -> str:
    execution = (
        ""
        if execution_at is None
        else f"<sr:ExecutionDateTime>{format_timestamp(execution_at)}</sr:ExecutionDateTime>"
    )
    return (
        _HEAD.format(root="Request") + f"<sr:Header><sr:RequestID>{request_id}</sr:RequestID>"
        f"<sr:CommandVariant>{command_variant}</sr:CommandVariant>"
        "<sr:ServiceReference>11.3</sr:ServiceReference>"
        "<sr:ServiceReferenceVariant>11.3</sr:ServiceReferenceVariant></sr:Header>"
        f"<sr:Body><sr:ActivateFirmware>{execution}"
        f"<sr:FirmwareHash>{firmware_hash}</sr:FirmwareHash></sr:ActivateFirmware></sr:Body>"
        "</sr:Request>"
    )


def update_firmware(request_id: str, device_id: str) -> str:
    """An SRV 11.1 Update Firmware request: traffic the gate accepts and ignores."""
    return (
        _HEAD.format(root="Request") + f"<sr:Header><sr:RequestID>{request_id}</sr:RequestID>"
        "<sr:CommandVariant>8</sr:CommandVariant>"
        "<sr:ServiceReference>11.1</sr:ServiceReference>"
        "<sr:ServiceReferenceVariant>11.1</sr:ServiceReferenceVariant></sr:Header>"
        "<sr:Body><sr:UpdateFirmware><sr:FirmwareVersion>00000000</sr:FirmwareVersion>"
        f"<sr:DeviceIDList>{device_id}</sr:DeviceIDList></sr:UpdateFirmware></sr:Body>"
        "</sr:Request>"
    )


def ad1_alert(alert_id: str, chf_id: str, outage_start: datetime | None) -> str:
    start = (
        ""
        if outage_start is None
        else "<sr:PowerOutageStartDateTime>"
        f"{format_timestamp(outage_start)}</sr:PowerOutageStartDateTime>"
    )
    return (
        _HEAD.format(root="Response") + f"<sr:Header><sr:ResponseID>{alert_id}</sr:ResponseID>"
        "<sr:ResponseCode>I0</sr:ResponseCode></sr:Header>"
        "<sr:Body><sr:DCCAlertMessage><sr:DCCAlertCode>AD1</sr:DCCAlertCode>"
        f"<sr:DCCAlert><sr:PowerOutageEvent><sr:DeviceID>{chf_id}</sr:DeviceID>{start}"
        "</sr:PowerOutageEvent></sr:DCCAlert></sr:DCCAlertMessage></sr:Body></sr:Response>"
    )


def future_dated_outcome(device_id: str, user_id: str, request_id: str, success: bool) -> str:
    code = "8F66" if success else "8F67"
    counter = request_id.rsplit(":", 1)[1]
    return (
        _HEAD.format(root="Response") + f"<sr:Header><sr:RequestID>{request_id}</sr:RequestID>"
        f"<sr:ResponseID>{device_id}:{user_id}:{counter}</sr:ResponseID>"
        "<sr:ResponseCode>I0</sr:ResponseCode></sr:Header>"
        "<sr:Body><sr:ResponseMessage><sr:FutureDatedDeviceAlertMessage>"
        f"<sr:FutureDatedAlertCode>{code}</sr:FutureDatedAlertCode>"
        "</sr:FutureDatedDeviceAlertMessage></sr:ResponseMessage></sr:Body></sr:Response>"
    )


def success_response(device_id: str, user_id: str, counter: int, service: str = "11.3") -> str:
    return (
        _HEAD.format(root="Response")
        + f"<sr:Header><sr:RequestID>{user_id}:{device_id}:{counter}</sr:RequestID>"
        f"<sr:ResponseID>{device_id}:{user_id}:{counter}</sr:ResponseID>"
        "<sr:ResponseCode>I0</sr:ResponseCode></sr:Header>"
        f"<sr:Body><sr:ResponseMessage><sr:ServiceReference>{service}</sr:ServiceReference>"
        "</sr:ResponseMessage></sr:Body></sr:Response>"
    )
