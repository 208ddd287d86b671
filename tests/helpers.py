"""Builders for tests: devices, events and gates with exact timestamps."""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
import sys
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from poagate.domain.events import Activation, ActivationOutcome, Ad1Alert, DeviceMessage
from poagate.domain.gate import Gate
from poagate.domain.ids import mpan_check_digit
from poagate.domain.reference import (
    Config,
    Device,
    DeviceType,
    GuidList,
    GuidListVersion,
    Inventory,
    SmetsVersion,
)
from poagate.formats.timestamps import parse_timestamp

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The DCC's DUIS request templates: npm package @smartdcc/duis-templates (GPL-3.0), fetched and
# checked by ``make templates`` (the Makefile pins its version and its tarball's SHA-256). They
# are read there in place and never copied into the project.
DUIS_TEMPLATES = ROOT / ".cache" / "duis-templates" / "package" / "templates"
DUIS_TEMPLATE_SHA256 = {
    "CS06_11.3_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML": (
        "1d7cb96f841765f5be0a365493a4b99b55ce4353132c98a90eb5c8ec3b2ac520"
    ),
    "CS06_11.3_FUTURE_DATED_SUCCESS_REQUEST_DUIS.XML": (
        "0c0701d002fcdc48420c756ab9bd6a464f216b45869c73b2220af6d07270ac7d"
    ),
    "CS06_11.3_CANCELLATION_SUCCESS_REQUEST_DUIS.XML": (
        "575c1bfa383e55d1b89185b725a1b4f4b0c4e4df452e784591b88eed2a9f749b"
    ),
    "11.1_UPDATE_FIRMWARE_REQUEST_DUIS.XML": (
        "cef570d52f6c53cfe0d90645707f4b33e9383bec28c95e9077211d37d8c9548d"
    ),
    "8.2_READ_INVENTORY_REQUEST_DUIS.XML": (
        "cc1263589610f03362da46b4bc3efe28825e0861f3eeb4f79cadaf4d29521fc9"
    ),
}

USER = "90-B3-D5-1F-30-01-00-00"
ESME = "00-DB-12-34-56-78-90-A0"  # the target of the DCC's 11.3 templates
CHF = "00-DB-12-34-56-78-90-C0"
ESME_2 = "00-DB-12-34-56-78-90-A1"
CHF_2 = "00-DB-12-34-56-78-90-C1"
INVENTORY_HEADER = (
    "device_id,device_type,smets_version,manufacturer,model,chf_id,mpan,network_operator,postcode"
)


def duis_template(name: str) -> Path:
    """One of the DCC's DUIS request templates, from the cache ``make templates`` fills, once
    its bytes are the pinned ones (``DUIS_TEMPLATE_SHA256``)."""
    import pytest

    pinned = DUIS_TEMPLATE_SHA256[name]
    path = DUIS_TEMPLATES / name
    if not path.is_file():
        pytest.fail(
            f"{path} is missing: run `make templates` (part of `make test`), which fetches the "
            "DCC's DUIS templates (npm package @smartdcc/duis-templates) into "
            ".cache/duis-templates/; remove that directory first if it is damaged"
        )
    found = hashlib.sha256(path.read_bytes()).hexdigest()
    if found != pinned:
        pytest.fail(
            f"{path} has SHA-256 {found}, not the pinned {pinned}: fetch the templates again "
            "with `rm -rf .cache/duis-templates && make templates`"
        )
    return path


def ts(text: str) -> datetime:
    return parse_timestamp(text, "test")


def mpan(prefix: str = "10", body: str = "1234567890") -> str:
    first = prefix + body
    return first + str(mpan_check_digit(first))


def esme(
    device_id: str = ESME,
    chf_id: str | None = CHF,
    manufacturer: str = "LANDIS+GYR",
    smets: SmetsVersion = SmetsVersion.SMETS2,
    operator: str = "10",
    postcode: str | None = "SW1A 1AA",
) -> Device:
    return Device(
        device_id=device_id,
        device_type=DeviceType.ESME,
        smets_version=smets,
        manufacturer=manufacturer,
        chf_id=chf_id,
        mpan=mpan(operator),
        network_operator=operator,
        postcode=postcode,
    )


def hub(device_id: str = CHF) -> Device:
    return Device(device_id, DeviceType.CHF, SmetsVersion.SMETS2, "TOSHIBA")


def guid_list(*devices: str, number: int = 1) -> GuidList:
    version = GuidListVersion(number, ts("2026-01-01T00:00:00Z"), len(devices), "0" * 64)
    return GuidList(version, frozenset(devices))


def gate(
    *devices: Device,
    guid: GuidList | None = None,
    config: Config | None = None,
) -> Gate:
    inventory = Inventory(devices or (esme(), hub()))
    if guid is None:
        guid = guid_list(*(d.device_id for d in inventory if d.device_type is DeviceType.ESME))
    return Gate(inventory, guid, config or Config())


def activation(
    received: str,
    device: str = ESME,
    counter: int = 1000,
    execution: str | None = None,
    variant: int | None = 4,
    user: str = USER,
) -> Activation:
    return Activation(
        request_id=f"{user}:{device}:{counter}",
        originator=user,
        device_id=device,
        received_at=ts(received),
        execution_at=None if execution is None else ts(execution),
        command_variant=variant,
    )


def cancellation(received: str, device: str = ESME, counter: int = 2000) -> Activation:
    return activation(received, device, counter, execution="3000-12-31T00:00:00Z")


def ad1(alert_id: str, received: str, event: str | None = None, chf: str = CHF) -> Ad1Alert:
    return Ad1Alert(alert_id, chf, ts(received), None if event is None else ts(event))


def outcome(received: str, device: str = ESME, success: bool = True) -> ActivationOutcome:
    return ActivationOutcome(device, ts(received), None, success)


def message(received: str, device: str = ESME) -> DeviceMessage:
    return DeviceMessage(device, ts(received))


def write_lines(path: Path, lines: Iterable[dict[str, object] | bytes | str]) -> Path:
    """A JSON Lines file: dictionaries as JSON, bytes and text as they are, one a line."""
    with path.open("wb") as f:
        for line in lines:
            if isinstance(line, dict):
                f.write(orjson.dumps(line) + b"\n")
            elif isinstance(line, str):
                f.write(line.encode() + b"\n")
            else:
                f.write(line + b"\n")
    return path


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def run_demo(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``poagate demo`` on a small fleet, its database and outputs in ``tmp_path``."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "poagate.cli",
            "demo",
            "--esmes",
            "2000",
            "--db",
            str(tmp_path / "demo.db"),
            "--out",
            str(tmp_path / "out"),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def wait_until_ready(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> bool:
    """Poll ``url``/readyz until it answers 200; False if ``process`` ends or time runs out."""
    import httpx

    deadline = time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


def accept_board(process: subprocess.Popen[bytes]) -> list[tuple[int, int]] | None:
    """The claimed slots (pid, open connections) on the accept board of a ``poagate serve
    --workers N`` started as ``process`` (poagate.api.accepting); None before a worker has
    it. The board's path is in the workers' environment (``serve`` sets it for them)."""
    import psutil

    from poagate.api.accepting import BOARD_ENV, Board

    for child in psutil.Process(process.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error, KeyError):
            board = Board(child.environ()[BOARD_ENV])
            try:
                slots = [board.read(n) for n in range(board.slots)]
            finally:
                board.close()
            return [(pid, count) for pid, count in slots if pid]
    return None


def wait_until_workers_accept(
    process: subprocess.Popen[bytes], workers: int, seconds: float = 60
) -> bool:
    """Until ``workers`` worker processes of a ``poagate serve --workers N`` started as
    ``process`` accept connections (each has its slot on the accept board): /readyz answers
    once the first does, and the others may start seconds later on a busy machine, the first
    taking every connection until then."""
    deadline = time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < deadline:
        if len(accept_board(process) or []) >= workers:
            return True
        time.sleep(0.05)
    return False


def stop_process(process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    """SIGTERM, then SIGKILL if it is still running after ``seconds``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            process.kill()
