"""The gate's configuration file (TOML), for ``poagate replay`` and ``poagate simulate``.

Every key is optional; a key given replaces the configured value, and a command-line option
replaces the file's::

    manufacturers = ["LANDIS+GYR"]
    window_minutes = 30
    skew_tolerance_seconds = 0
    release_after_minutes = 60      # spec §9 release-if-dark; 0 or absent: off
    area_outage_threshold = 3       # spec §9 area-outage; 0 or absent: off
    area_outage_seconds = 900
    verify_after_minutes = 10       # spec §14 verification guard; 0 or absent: off
    verify_timeout_minutes = 4
    verify_attempts = 2
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from poagate.formats.errors import InputError

# The guards' settings (spec §9, §14), each a whole number.
GUARD_KEYS = (
    "release_after_minutes",
    "area_outage_threshold",
    "area_outage_seconds",
    "verify_after_minutes",
    "verify_timeout_minutes",
    "verify_attempts",
)
_INTEGERS = ("window_minutes", "skew_tolerance_seconds", *GUARD_KEYS)
KEYS = ("manufacturers", *_INTEGERS)


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings the file gives, checked for type; unknown keys are an error."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read the configuration file: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a valid TOML file: {exc}") from None
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise InputError(
            f"{path}: unknown setting {', '.join(unknown)}; the settings are {', '.join(KEYS)}"
        )
    settings: dict[str, Any] = {}
    for key in _INTEGERS:
        if key in data:
            value = data[key]
            if type(value) is not int or value < 0:
                raise InputError(f"{path}: {key} must be a whole number, 0 or more, not {value!r}")
            settings[key] = value
    if "manufacturers" in data:
        names = data["manufacturers"]
        if (
            not isinstance(names, list)
            or not names
            or not all(isinstance(n, str) and n.strip() for n in names)
        ):
            raise InputError(f"{path}: manufacturers must be a list of one or more names")
        settings["manufacturers"] = tuple(n.strip() for n in names)
    return settings
