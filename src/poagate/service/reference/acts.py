"""An operator's reference-data acts (spec §11, §17), whichever channel they came through (the
HTTP API or the command line): full loads and change files judged against the limits in force
(``reference`` in the stored configuration), rollbacks, each audited.

A load forced past a limit is audited with the limits it went past (``forced``); a refused one
changes nothing and is not in the audit log (its version of the inventory is kept as
``refused``, with its figures).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from poagate.domain.reference import GuidListVersion
from poagate.domain.safety import Judgement, ReferenceLimits
from poagate.service.reference.loads import (
    GuidLoad,
    LoadResult,
    apply_changes,
    judge_after,
    load_guid_list,
    load_inventory,
)
from poagate.store.ports import ReferenceActs
from poagate.store.reference.fleet import InventoryLoad


def limits_of(store: ReferenceActs, force: bool) -> ReferenceLimits:
    """The reference limits of the configuration in force, forced or not."""
    settings = store.reference.settings().reference
    return ReferenceLimits(settings.max_rejected_share, settings.max_shrink, force)


def _forced(judgement: Judgement | None) -> dict[str, Any]:
    """What an audit entry says of the limits: the figures, and the reasons forced past."""
    if judgement is None:
        return {}
    detail: dict[str, Any] = {"figures": judgement.figures}
    if judgement.reasons:
        detail["forced"] = judgement.reasons
    return detail


def load_inventory_act(
    store: ReferenceActs,
    path: Path,
    at: datetime,
    source: str,
    actor: str,
    *,
    force: bool = False,
    resume: bool = True,
) -> LoadResult:
    """A full load of the inventory (``PUT /v1/reference/inventory``, ``poagate inventory
    load``), judged and audited. Raises ``LoadRefused``."""
    kept = store.reference.settings().reference.kept_inventory_versions
    result = load_inventory(
        store, path, at, source, resume=resume, limits=limits_of(store, force), keep=kept
    )
    _audit_version(store, at, actor, "inventory.load", result)
    return result


def apply_changes_act(
    store: ReferenceActs, path: Path, at: datetime, source: str, actor: str, *, force: bool
) -> LoadResult:
    """A change file (``POST /v1/reference/inventory/changes``, ``poagate inventory apply``),
    judged and audited. Raises ``LoadRefused``."""
    result = apply_changes(store, path, at, source, limits=limits_of(store, force))
    _audit_version(store, at, actor, "inventory.changes", result)
    return result


def _audit_version(
    store: ReferenceActs, at: datetime, actor: str, action: str, result: LoadResult
) -> None:
    v = result.version
    store.audit.record(
        at,
        actor,
        action,
        {
            "load": v.id,
            "rows_accepted": v.rows_accepted,
            "rows_removed": v.rows_removed,
            "rows_rejected": v.rows_rejected,
            **_forced(result.judgement),
        },
    )


def load_guid_list_act(
    store: ReferenceActs,
    path: Path,
    at: datetime,
    source: str,
    actor: str,
    *,
    force: bool = False,
) -> GuidLoad:
    """A GUID list (``PUT /v1/reference/guid-list``, ``poagate guid-list load``), judged and
    audited. Raises ``LoadRefused``."""
    loaded = load_guid_list(store, path, at, source, limits=limits_of(store, force))
    version = loaded.version
    store.audit.record(
        at,
        actor,
        "guid_list.load",
        {
            "version": version.number,
            "new_version": loaded.new,
            "entries": version.entry_count,
            **_forced(loaded.judgement if loaded.new else None),
        },
    )
    return loaded


@dataclass(slots=True)
class Rollback:
    """What a rollback put in force, what was in force before, and what it was judged on."""

    version: InventoryLoad
    previous: int
    judgement: Judgement


def rollback_inventory(
    store: ReferenceActs,
    at: datetime,
    actor: str,
    to: int | None = None,
    *,
    force: bool = False,
) -> Rollback:
    """Put the full load ``to`` (by default the one before the version in force) back in
    force, atomically (``poagate inventory rollback``, ``POST
    /v1/reference/inventory/versions/{version}/activate``), audited. The shrink limit applies
    as to a load. Raises ``VersionUnavailableError`` and ``LoadRefused``."""
    fleet = store.fleet
    target = fleet.rollback_target() if to is None else to
    previous = fleet.base()
    limits = limits_of(store, force)
    judgement = Judgement({"to": target, "previous": previous})
    version = fleet.activate(
        target,
        f"rollback to version {target} by {actor}",
        at,
        partial(judge_after, limits, judgement, "rollback", "devices"),
        store.reference.settings().reference.kept_inventory_versions,
    )
    store.audit.record(
        at,
        actor,
        "inventory.rollback",
        {"version": version.id, "full_load": target, "previous": previous, **_forced(judgement)},
    )
    return Rollback(version, previous, judgement)


@dataclass(slots=True)
class GuidRollback:
    version: GuidListVersion
    previous: int | None
    judgement: Judgement


def rollback_guid_list(
    store: ReferenceActs,
    at: datetime,
    actor: str,
    to: int | None = None,
    *,
    force: bool = False,
) -> GuidRollback:
    """Put GUID list version ``to`` (by default the one before the version in force) back in
    force at once (``poagate guid-list rollback``, ``POST
    /v1/reference/guid-list/versions/{version}/activate``), audited. Raises
    ``VersionUnavailableError`` and ``LoadRefused``."""
    reference = store.reference
    target = reference.guid_rollback_target() if to is None else to
    current = reference.guid_version()
    previous = None if current is None else current.number
    limits = limits_of(store, force)
    judgement = Judgement({"to": target, "previous": previous})
    version = reference.activate_guid_list(
        target, partial(judge_after, limits, judgement, "rollback", "entries")
    )
    store.audit.record(
        at,
        actor,
        "guid_list.rollback",
        {"version": version.number, "previous": previous, **_forced(judgement)},
    )
    return GuidRollback(version, previous, judgement)
