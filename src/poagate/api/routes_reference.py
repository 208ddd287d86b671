"""Reference data (DCC operations, admin): the inventory's full loads, change files and
versions, and the GUID list's (spec §3, §11).

A request body is streamed to a file as it arrives (chunked uploads work, and no size is too
large but the disk's), then loaded from that file by a thread of its own on a connection of its
own: decisions go on meanwhile, and see the new version from the moment it is switched in.
The answer comes when the version is in force, or says why the file could not be used.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam

from poagate.api.auth import require
from poagate.api.context import context_of
from poagate.api.problems import Problem
from poagate.api.responses import Json
from poagate.api.schemas import (
    GuidListLoadAnswer,
    GuidListRollbackAnswer,
    GuidListVersions,
    InventoryLoadAnswer,
    InventoryRollbackAnswer,
    InventoryVersions,
    documented,
)
from poagate.api.tokens import Principal
from poagate.domain.safety import LoadRefused
from poagate.formats.errors import InputError, Rejection
from poagate.formats.records import rejection_fields
from poagate.service.reference.acts import (
    apply_changes_act,
    load_guid_list_act,
    load_inventory_act,
    rollback_guid_list,
    rollback_inventory,
)
from poagate.service.reference.loads import LoadResult
from poagate.store.database import open_store
from poagate.store.reference.fleet import InventoryLoad, LoadSuperseded, VersionUnavailableError
from poagate.store.store import Store

router = APIRouter(tags=["reference data"])
Admin = Annotated[Principal, Depends(require("admin"))]
_T = TypeVar("_T")
_GUID_LOADS = threading.Lock()
# What an upload can answer besides 200: an unusable file (400), a load another one superseded
# (409), a file over the reference limits (422, spec §17), a store that cannot be reached (503).
UPLOAD = (400, 401, 403, 409, 422, 503)
MAX_VERSION = 2**31 - 1  # version numbers are the store's 32-bit integers
Force = Annotated[
    bool,
    Query(
        description="Go ahead even past the reference limits (rejected rows, shrink, an empty "
        "file); audited with the limits overridden."
    ),
]
_WRITE_BYTES = 4 * 1024 * 1024  # the body goes to disk this much at a time


@contextlib.contextmanager
def _spool_file() -> Iterator[Path]:
    handle, name = tempfile.mkstemp(prefix="poagate-upload-", suffix=".csv")
    os.close(handle)
    try:
        yield Path(name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


async def _spool(request: Request, path: Path) -> None:
    """The request body, as it arrives, into ``path``."""
    with path.open("wb") as out:
        pending: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            pending.append(chunk)
            size += len(chunk)
            if size >= _WRITE_BYTES:
                await asyncio.to_thread(out.write, b"".join(pending))
                pending, size = [], 0
        if pending:
            await asyncio.to_thread(out.write, b"".join(pending))


async def _with_upload(request: Request, source: str, work: Callable[[Store, Path], _T]) -> _T:
    """Spool the body, then run ``work`` on it in a thread with a connection of its own."""
    context = context_of(request)
    with _spool_file() as path:
        await _spool(request, path)

        def run() -> _T:
            with open_store(context.options.database, "service") as store:
                return work(store, path)

        try:
            return await asyncio.to_thread(run)
        except InputError as exc:
            raise Problem(400, f"Unusable {source}", str(exc)) from None
        except LoadSuperseded as exc:
            raise Problem(409, "Load superseded", str(exc)) from None
        except LoadRefused as exc:
            raise _refused(exc) from None


def _refused(exc: LoadRefused) -> Problem:
    """A load or rollback over the limits (spec §17): 422 with the reasons and the figures."""
    return Problem(
        422,
        f"The {exc.what} was refused",
        str(exc),
        extra={"reasons": exc.judgement.reasons, "figures": exc.judgement.figures},
    )


def _version_fields(v: InventoryLoad) -> dict[str, Any]:
    return {
        "load": v.id,
        "kind": v.kind,
        "state": v.state,
        "loaded_at": v.loaded_at,
        "finished_at": v.finished_at,
        "sha256": v.sha256,
        "rows_read": v.rows_read,
        "rows_accepted": v.rows_accepted,
        "rows_rejected": v.rows_rejected,
        "rows_removed": v.rows_removed,
        "devices": v.device_count,
        "base": v.base,
    }


def _answer(result: LoadResult) -> dict[str, Any]:
    judgement = result.judgement
    return {
        **_version_fields(result.version),
        "resumed": result.resumed,
        "forced": [] if judgement is None else judgement.reasons,
        "rejected": _rejections(result.rejected),
    }


def _rejections(rejected: list[Rejection]) -> list[dict[str, Any]]:
    return [rejection_fields(r) for r in rejected]


_CSV_BODY = {
    "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
}


@router.put(
    "/v1/reference/inventory",
    response_class=Json,
    responses=documented(InventoryLoadAnswer, *UPLOAD),
    summary="Replace the inventory (a full load, CSV)",
    description="The devices in force become the file's (a CSV with the "
    "header), as a new version switched in at once when the whole file is loaded. Streamed: "
    "a chunked body works and no size is too large. Bad rows are rejected with their line "
    "numbers (the first 1,000 listed here, all in the store); good rows load.",
    openapi_extra=_CSV_BODY,
)
async def put_inventory(request: Request, principal: Admin, force: Force = False) -> Json:
    return await _inventory_version(
        request,
        "inventory",
        partial(
            load_inventory_act,
            source="PUT /v1/reference/inventory",
            actor=principal.actor,
            force=force,
            resume=False,
        ),
    )


async def _inventory_version(
    request: Request, noun: str, run: Callable[[Store, Path, datetime], LoadResult]
) -> Json:
    """Spool the body and make a version of it with ``run`` (which audits it)."""
    now = context_of(request).options.clock()
    return Json(_answer(await _with_upload(request, noun, lambda s, p: run(s, p, now))))


@router.post(
    "/v1/reference/inventory/changes",
    response_class=Json,
    responses=documented(InventoryLoadAnswer, *UPLOAD),
    summary="Apply an inventory change file (CSV)",
    description="The inventory's columns after a first column `change`: `upsert` "
    "adds or replaces the row of that device_id, `remove` removes it (its other columns may "
    "be empty). Applied at once, in one transaction; a version of its own. Decisions made "
    "after the answer see it.",
    openapi_extra=_CSV_BODY,
)
async def post_changes(request: Request, principal: Admin, force: Force = False) -> Json:
    return await _inventory_version(
        request,
        "change file",
        partial(
            apply_changes_act,
            source="POST /v1/reference/inventory/changes",
            actor=principal.actor,
            force=force,
        ),
    )


@router.get(
    "/v1/reference/inventory/versions",
    response_class=Json,
    responses=documented(InventoryVersions, 400, 401, 403, 422, 503),
    summary="Inventory versions",
    description="Every full load and change file, oldest first: its state (a full load is "
    "`loading`, `in_force`, `replaced` or `failed`; changes are `applied`), rows and SHA-256.",
)
def inventory_versions(
    request: Request,
    principal: Admin,
    after: Annotated[int, Query(ge=0, le=MAX_VERSION)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Json:
    with context_of(request).reads.borrow() as store:
        versions = store.fleet.versions(after, limit)
        base = store.fleet.base()
    return Json({"in_force": base or None, "items": [_version_fields(v) for v in versions]})


VersionPath = Annotated[int, PathParam(ge=1, le=MAX_VERSION)]


async def _act(request: Request, work: Callable[[Store], dict[str, Any]]) -> Json:
    """A rollback in a thread with a connection of its own; its refusals as problems."""
    context = context_of(request)

    def run() -> dict[str, Any]:
        with open_store(context.options.database, "service") as store:
            return work(store)

    try:
        return Json(await asyncio.to_thread(run))
    except VersionUnavailableError as exc:
        raise Problem(409, "Version cannot be put back in force", str(exc)) from None
    except LoadRefused as exc:
        raise _refused(exc) from None


@router.post(
    "/v1/reference/inventory/versions/{version}/activate",
    response_class=Json,
    responses=documented(InventoryRollbackAnswer, 400, 401, 403, 409, 422, 503),
    summary="Put an earlier inventory version back in force (a rollback)",
    description="The full load `version` becomes the inventory in force again, as it was "
    "loaded, at once: decisions see the version before or this one, never half. Change files "
    "applied since it stop applying. Only a full load whose devices are still kept (the "
    "`reference.kept_inventory_versions` most recently replaced) can be put back (else 409). "
    "Refused (422) when it would leave fewer than `reference.max_shrink` of the devices in "
    "force, unless `force=true`. Audited.",
)
async def activate_inventory(
    request: Request, principal: Admin, version: VersionPath, force: Force = False
) -> Json:
    now = context_of(request).options.clock()

    def work(store: Store) -> dict[str, Any]:
        done = rollback_inventory(store, now, principal.actor, version, force=force)
        return {
            **_version_fields(done.version),
            "previous": done.previous,
            "forced": done.judgement.reasons,
        }

    return await _act(request, work)


@router.put(
    "/v1/reference/guid-list",
    response_class=Json,
    responses=documented(GuidListLoadAnswer, *UPLOAD),
    summary="Load the GUID list",
    description="One Device ID per line, streamed as the inventory is. A new version unless "
    "its content is the version in force; the answer says which. Activations are judged "
    "against the version in force when first seen.",
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/plain": {"schema": {"type": "string"}}}}
    },
)
async def put_guid_list(request: Request, principal: Admin, force: Force = False) -> Json:
    source = "PUT /v1/reference/guid-list"
    now = context_of(request).options.clock()

    def load(store: Store, path: Path) -> dict[str, Any]:
        with _GUID_LOADS:  # one at a time (docs/decisions.md)
            loaded = load_guid_list_act(store, path, now, source, principal.actor, force=force)
        version = loaded.version
        return {
            "version": version.number,
            "new_version": loaded.new,
            "entries": version.entry_count,
            "sha256": version.sha256,
            "loaded_at": version.loaded_at,
            "rows_rejected": loaded.rows_rejected,
            "forced": [] if loaded.judgement is None else loaded.judgement.reasons,
            "rejected": _rejections(loaded.rejected),
        }

    return Json(await _with_upload(request, "GUID list", load))


@router.get(
    "/v1/reference/guid-list/versions",
    response_class=Json,
    responses=documented(GuidListVersions, 401, 403, 503),
    summary="GUID list versions",
)
def guid_list_versions(request: Request, principal: Admin) -> Json:
    with context_of(request).reads.borrow() as store:
        versions = store.reference.guid_list_versions()
        current = store.reference.guid_version()
    return Json(
        {
            "in_force": None if current is None else current.number,
            "items": [
                {
                    "version": v.number,
                    "loaded_at": v.loaded_at,
                    "entries": v.entry_count,
                    "sha256": v.sha256,
                }
                for v in versions
            ],
        }
    )


@router.post(
    "/v1/reference/guid-list/versions/{version}/activate",
    response_class=Json,
    responses=documented(GuidListRollbackAnswer, 400, 401, 403, 409, 422, 503),
    summary="Put an earlier GUID list version back in force (a rollback)",
    description="GUID list version `version` becomes the version in force again, at once. "
    "Refused (422) when it would leave fewer than `reference.max_shrink` of the entries in "
    "force, or none, unless `force=true`. Audited.",
)
async def activate_guid_list(
    request: Request, principal: Admin, version: VersionPath, force: Force = False
) -> Json:
    now = context_of(request).options.clock()

    def work(store: Store) -> dict[str, Any]:
        with _GUID_LOADS:
            done = rollback_guid_list(store, now, principal.actor, version, force=force)
        v = done.version
        return {
            "version": v.number,
            "loaded_at": v.loaded_at,
            "entries": v.entry_count,
            "sha256": v.sha256,
            "previous": done.previous,
            "forced": done.judgement.reasons,
        }

    return await _act(request, work)
