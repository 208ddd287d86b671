"""The retention rules (spec §15): how far back the guards in force read, the least retention
each kind may have, and the cut-offs of a maintenance pass.

The guards' reach is the longest an AD1 may wait before something in force can still change
it: its window (``window_minutes``, and ``skew_tolerance_seconds``), release-if-dark
(``release_after_minutes``), every verification attempt (``verify_after_minutes`` and
``verify_attempts`` × ``verify_timeout_minutes``) and area-outage's look-back
(``area_outage_seconds``). Rows the guards read — Suppression Log entries, forwarded AD1s (the
area-outage evidence), activations (their windows) and signs of life — may not be kept for less:
a change that asks for less is refused, saying the least allowed, from every channel
(``service.configuration.change_configuration``).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from poagate.formats.settings import Retention, Settings
from poagate.formats.timestamps import EPOCH
from poagate.store.lifecycle import KINDS, Cutoffs

# The kinds the guards read, with the unit their setting counts in.
GUARDED = {
    "suppression_log_days": timedelta(days=1),
    "forwarded_days": timedelta(days=1),
    "activations_days": timedelta(days=1),
    "signs_of_life_hours": timedelta(hours=1),
}


class RetentionError(ValueError):
    """A retention shorter than the guards in force need; the message says the least allowed."""


def guards_reach(settings: Settings) -> timedelta:
    """How long after its ``event_at`` something in force may still decide or release an AD1
    (see the module docstring)."""
    minutes = settings.window_minutes + settings.skew_tolerance_seconds / 60
    if settings.release_after_minutes is not None:
        minutes += settings.release_after_minutes
    if settings.verify_after_minutes is not None:
        minutes += (
            settings.verify_after_minutes
            + settings.verify_attempts * settings.verify_timeout_minutes
        )
    if settings.area_outage_threshold is not None:
        minutes += settings.area_outage_seconds / 60
    return timedelta(minutes=minutes)


def least_allowed(settings: Settings) -> dict[str, int]:
    """The least value each guarded setting of ``retention`` may have with these settings."""
    reach = guards_reach(settings)
    return {name: max(1, math.ceil(reach / unit)) for name, unit in GUARDED.items()}


def check_retention(settings: Settings) -> None:
    """Raise ``RetentionError`` naming each retention shorter than the guards need."""
    least = least_allowed(settings)
    short = [
        f"retention.{name} is {getattr(settings.retention, name)}, shorter than the guards in "
        f"force need ({guards_reach(settings).total_seconds() / 60:g} minutes from an AD1's "
        f"event_at): the least allowed is {least[name]}"
        for name in GUARDED
        if getattr(settings.retention, name) < least[name]
    ]
    if short:
        raise RetentionError("; ".join(short))


def cutoffs(settings: Settings, now: datetime) -> Cutoffs:
    """What a pass at ``now`` purges under the retention in force."""
    kept: Retention = settings.retention
    ages = {
        "suppression_log": timedelta(days=kept.suppression_log_days),
        "forwarded": timedelta(days=kept.forwarded_days),
        "activations": timedelta(days=kept.activations_days),
        "signs_of_life": timedelta(hours=kept.signs_of_life_hours),
        "deliveries": timedelta(days=kept.deliveries_days),
        "inputs": timedelta(days=kept.inputs_days),
        "audit": timedelta(days=kept.audit_days),
    }
    # sessions and reference-data versions are not purged by these ages (``lifecycle``)
    before = {kind: now - ages[kind] if kind in ages else EPOCH for kind in KINDS}
    return Cutoffs(
        now=now,
        guards_from=now - guards_reach(settings),
        before=before,
        versions_kept=kept.reference_versions,
    )
