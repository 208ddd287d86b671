"""deploy/systemd/poagate.service: a unit ``systemd-analyze verify`` accepts, hardened, and
reading the settings of deploy/systemd/poagate.env (docs/operations.md "Deploy")."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.kit import ENV_FILE, UNIT

pytestmark = pytest.mark.fast

HARDENING = {
    "DynamicUser": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "NoNewPrivileges": "yes",
    "CapabilityBoundingSet": "",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "SystemCallArchitectures": "native",
}


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_the_unit_is_hardened() -> None:
    service = unit()["Service"]
    for key, expected in HARDENING.items():
        assert service.get(key) == expected, key
    assert "@system-service" in UNIT.read_text()  # only a network service's system calls
    assert service["EnvironmentFile"] == "/etc/poagate/poagate.env"


def test_the_environment_file_sets_only_what_poagate_serve_reads() -> None:
    """Each variable is one ``poagate serve`` or the server reads: a misspelt one would be
    ignored without a word."""
    from poagate.api.options import ServerOptions

    known = set(ServerOptions().to_env()) | {
        "POAGATE_HOST",
        "POAGATE_PORT",
        "POAGATE_WORKERS",
    }
    names = set()
    for line in ENV_FILE.read_text().splitlines():
        line = line.lstrip("#").strip()
        if line.startswith("POAGATE_") and "=" in line:
            names.add(line.split("=", 1)[0])
    assert names
    assert names <= known, names - known


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is missing (no systemd on this machine)")
    # verify checks that ExecStart's program exists: this checkout's poagate stands in for
    # /opt/poagate/venv/bin/poagate.
    installed = Path(sys.executable).parent / "poagate"
    text = UNIT.read_text().replace("/opt/poagate/venv/bin/poagate", str(installed))
    copy = tmp_path / "poagate.service"
    copy.write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0 and "Failed to" in done.stderr and "bus" in done.stderr.lower():
        pytest.skip(f"systemd-analyze cannot run here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr  # not even a warning
