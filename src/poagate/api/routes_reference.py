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

from poagate.api.auth import require
from poagate.api.context import context_of
from poagate.api.problems import Problem
from poagate.api.responses import Json
from poagate.api.schemas import (
    GuidListLoadAnswer,
    GuidListVersions,
    InventoryLoadAnswer,
    InventoryVersions,
    documented,
)
from poagate.api.tokens import Principal
from poagate.formats.errors import InputError, Rejection
from poagate.formats.limits import MAX_ID
from poagate.formats.records import rejection_fields
from poagate.service.reference.loads import (
    LoadResult,
    apply_changes,
    load_guid_list,
    load_inventory,
)
from poagate.store.database import open_store
from poagate.store.reference.fleet import InventoryLoad, LoadSuperseded
from poagate.store.store import Store

router = APIRouter(tags=["reference data"])
Admin = Annotated[Principal, Depends(require("admin"))]
_T = TypeVar("_T")
_GUID_LOADS = threading.Lock()
# What an upload can answer besides 200: an unusable file (400), a load another one superseded
# (409), a store that cannot be reached (503).
UPLOAD = (400, 401, 403, 409, 503)
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
    return {
        **_version_fields(result.version),
        "resumed": result.resumed,
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
async def put_inventory(request: Request, principal: Admin) -> Json:
    return await _inventory_version(
        request,
        principal,
        "PUT /v1/reference/inventory",
        "inventory.load",
        partial(load_inventory, resume=False),
    )


async def _inventory_version(
    request: Request,
    principal: Principal,
    source: str,
    action: str,
    run: Callable[[Store, Path, datetime, str], LoadResult],
) -> Json:
    """Spool the body, make a version of it with ``run`` and audit it as ``action``."""
    now = context_of(request).options.clock()

    def work(store: Store, path: Path) -> LoadResult:
        result = run(store, path, now, source)
        v = result.version
        store.audit.record(
            now,
            principal.actor,
            action,
            {
                "load": v.id,
                "rows_accepted": v.rows_accepted,
                "rows_removed": v.rows_removed,
                "rows_rejected": v.rows_rejected,
            },
        )
        return result

    noun = "inventory" if action == "inventory.load" else "change file"
    return Json(_answer(await _with_upload(request, noun, work)))


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
async def post_changes(request: Request, principal: Admin) -> Json:
    return await _inventory_version(
        request,
        principal,
        "POST /v1/reference/inventory/changes",
        "inventory.changes",
        apply_changes,
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
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Json:
    with context_of(request).reads.borrow() as store:
        versions = store.fleet.versions(after, limit)
        base = store.fleet.base()
    return Json({"in_force": base or None, "items": [_version_fields(v) for v in versions]})


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
async def put_guid_list(request: Request, principal: Admin) -> Json:
    source = "PUT /v1/reference/guid-list"
    now = context_of(request).options.clock()

    def load(store: Store, path: Path) -> dict[str, Any]:
        with _GUID_LOADS:  # one at a time (docs/decisions.md)
            loaded = load_guid_list(store, path, now, source)
        version = loaded.version
        store.audit.record(
            now,
            principal.actor,
            "guid_list.load",
            {
                "version": version.number,
                "new_version": loaded.new,
                "entries": version.entry_count,
            },
        )
        return {
            "version": version.number,
            "new_version": loaded.new,
            "entries": version.entry_count,
            "sha256": version.sha256,
            "loaded_at": version.loaded_at,
            "rows_rejected": loaded.rows_rejected,
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
    return Json(
        {
            "items": [
                {
                    "version": v.number,
                    "loaded_at": v.loaded_at,
                    "entries": v.entry_count,
                    "sha256": v.sha256,
                }
                for v in versions
            ]
        }
    )
