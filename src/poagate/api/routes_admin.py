"""DCC operations (admin): configuration, deliveries, the audit log, tokens. (Reference data:
``routes_reference``.)

Every change is written in the same transaction as its audit entry (who, when, what) and runs
on the writer connection, in turn with the decisions. A configuration change is
``service.configuration``'s act, the one the console and the command line's suspend and resume
run too: these routes only read the body, call and answer.
"""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from poagate.api.auth import require
from poagate.api.context import context_of
from poagate.api.listing import time_param
from poagate.api.problems import Problem
from poagate.api.responses import Json
from poagate.api.schemas import (
    ADMIN,
    AuditPage,
    BulkRetryAnswer,
    Deliveries,
    RetryAnswer,
    TokenCreated,
    TokenRevoked,
    documented,
)
from poagate.api.tokens import Principal
from poagate.formats.limits import MAX_ID
from poagate.formats.merge_patch import MEDIA_TYPE as MERGE_PATCH
from poagate.formats.settings import Settings, SettingsError
from poagate.service.access import issue_token
from poagate.service.configuration import (
    ConfigurationChange,
    change_configuration,
    patch_configuration,
)
from poagate.service.deliveries import retry_dead
from poagate.store.access import AuditFilter

router = APIRouter(tags=["operations"])
Admin = Annotated[Principal, Depends(require("admin"))]
After = Annotated[int, Query(ge=0, le=MAX_ID)]
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"  # no control character (PostgreSQL refuses NUL in text)


# -- configuration ------------------------------------------------------------------------------


@router.get(
    "/v1/config",
    response_class=Json,
    responses=documented(Settings, 401, 403, 503),
    summary="The configuration in force",
)
def get_config(request: Request, principal: Admin) -> Json:
    with context_of(request).reads.borrow() as store:
        return Json(store.reference.settings().masked())


_SETTINGS_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Settings"}}},
    }
}
_PATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {MERGE_PATCH: {"schema": {"type": "object"}}},
    }
}
_STRICT = (
    " A key poagate does not know and a value of the wrong type or range are refused (422, "
    "naming the path, e.g. delivery.webhook); so is a webhook URL with a port outside 1-65535 "
    "or a network operator id below 10. Webhook secrets are never shown back; the answer "
    "adds changed and changes (before and after by path, secrets as ***)."
)


@router.put(
    "/v1/config",
    response_class=Json,
    responses=documented(Settings, *ADMIN),
    summary="Change the configuration",
    description="Takes effect for events decided from now on. Settings left out of the body "
    'keep their values (so {"suppression_enabled": false} only suspends); a setting given '
    "replaces its value, delivery as a whole (PATCH changes only the keys it names)." + _STRICT,
    openapi_extra=_SETTINGS_BODY,
)
async def put_config(request: Request, principal: Admin) -> Json:
    context = context_of(request)
    now = context.options.clock()
    try:
        body = Settings.given(await request.body())
        done = await context.ingestor.call(
            lambda store: change_configuration(store, body, principal.actor, now)
        )
    except SettingsError as exc:
        raise _invalid(exc) from None
    return _changed(done)


@router.patch(
    "/v1/config",
    response_class=Json,
    responses=documented(Settings, 415, *ADMIN),
    summary="Change some settings (JSON Merge Patch)",
    description=f"A JSON Merge Patch (RFC 7396, {MERGE_PATCH}) of the configuration in force: "
    "only the keys named change (setting DNO 13's webhook keeps DNO 12's), null removes a key "
    "(a setting goes back to its default, a webhook is removed)." + _STRICT,
    openapi_extra=_PATCH_BODY,
)
async def patch_config(request: Request, principal: Admin) -> Json:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != MERGE_PATCH:
        raise Problem(415, "Unsupported Media Type", f"send the patch as {MERGE_PATCH}")
    try:
        patch = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise Problem(400, "Bad Request", f"the body is not JSON: {exc}") from None
    context = context_of(request)
    now = context.options.clock()
    try:
        done = await context.ingestor.call(
            lambda store: patch_configuration(store, patch, principal.actor, now)
        )
    except SettingsError as exc:
        raise _invalid(exc) from None
    return _changed(done)


def _invalid(exc: SettingsError) -> RequestValidationError:
    """A refused configuration as the 422 every invalid request gets: each path and why."""
    errors = [
        {"loc": tuple(where.split(".")) if where else (), "msg": why} for where, why in exc.problems
    ]
    return RequestValidationError(errors)


def _changed(done: ConfigurationChange) -> Json:
    return Json({**done.settings.masked(), "changed": done.changed, "changes": done.changes})


# -- deliveries, audit, tokens -------------------------------------------------------------------


@router.get(
    "/v1/deliveries",
    response_class=Json,
    responses=documented(Deliveries, *ADMIN),
    summary="Deliveries to DNO webhooks",
    description="By status: dead (gave up; retry them here), pending or delivered.",
)
def deliveries(
    request: Request,
    principal: Admin,
    status: Literal["dead", "pending", "delivered"] = "dead",
    after_id: After = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Json:
    with context_of(request).reads.borrow() as store:
        items = store.outbox.listing(status, after_id, limit)
        counts = store.outbox.counts()
    return Json({"items": items, "counts": counts})


class BulkRetry(BaseModel):
    """Which dead deliveries to send again: a DNO's, those queued in a time range, or both."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    network_operator: str | None = Field(None, description="Only this DNO's (two digits).")
    since: str | None = Field(
        None, alias="from", description="Only those queued at or after this time (ISO-8601)."
    )
    until: str | None = Field(
        None, alias="to", description="Only those queued before this time (ISO-8601)."
    )


@router.post(
    "/v1/deliveries/retry",
    response_class=Json,
    responses=documented(BulkRetryAnswer, *ADMIN),
    summary="Send dead deliveries again, by DNO and/or time range",
    description="Every dead delivery of network_operator, or queued in [from, to), or both "
    "(an empty body: every dead delivery). Each is retried from now for "
    "delivery.retry_for_hours again, each hub's in order. Audited as one entry.",
)
async def retry_deliveries(request: Request, principal: Admin, body: BulkRetry) -> Json:
    context = context_of(request)
    now = context.options.clock()
    try:
        retried = await context.ingestor.call(
            lambda store: retry_dead(
                store, body.network_operator, body.since, body.until, now, principal.actor
            )
        )
    except ValueError as exc:
        raise Problem(422, "Invalid request", str(exc)) from None
    return Json({"retried": retried})


@router.post(
    "/v1/deliveries/{delivery_id}/retry",
    response_class=Json,
    responses=documented(RetryAnswer, 404, *ADMIN),
    summary="Send a dead delivery again",
)
async def retry_delivery(request: Request, principal: Admin, delivery_id: Id) -> Json:
    context = context_of(request)
    now = context.options.clock()
    done = await context.ingestor.call(
        lambda store: store.outbox.retry(delivery_id, now, principal.actor)
    )
    if not done:
        raise Problem(404, "Not Found", f"no dead delivery {delivery_id}")
    return Json({"id": delivery_id, "status": "pending"})


@router.get(
    "/v1/audit",
    response_class=Json,
    responses=documented(AuditPage, *ADMIN),
    summary="Every change: who, when, what",
    description="Each entry names its actor, the channel the act came through (api, console, "
    "cli; null before channels were recorded) and the token it was made with (null from the "
    "command line). Filters: actor (as shown, e.g. `token 3 (admin)`), action (e.g. "
    "`config.set`), from (inclusive) and to (exclusive). Oldest first unless order=newest; "
    "`after` is the seq of the last entry of the page before, in the order asked.",
)
def audit(
    request: Request,
    principal: Admin,
    after: After = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    actor: Annotated[str | None, Query(max_length=200, pattern=PRINTABLE)] = None,
    action: Annotated[str | None, Query(max_length=64, pattern=PRINTABLE)] = None,
    from_: Annotated[str | None, Query(alias="from", description="At or after this time.")] = None,
    to: Annotated[str | None, Query(description="Before this time.")] = None,
    order: Literal["oldest", "newest"] = "oldest",
) -> Json:
    which = AuditFilter(actor, action, time_param(from_, "from"), time_param(to, "to"))
    with context_of(request).reads.borrow() as store:
        entries = store.audit.entries(after, limit, which, newest_first=order == "newest")
    return Json(
        {
            "items": [
                {
                    "seq": e.seq,
                    "at": e.at,
                    "actor": e.actor,
                    "channel": e.channel,
                    "token": e.token_id,
                    "action": e.action,
                    "detail": e.detail,
                }
                for e in entries
            ]
        }
    )


class TokenRequest(BaseModel):
    role: Literal["admin", "dsp", "dno"]
    network_operators: list[str] = Field(default_factory=list)
    description: str = ""


@router.post(
    "/v1/tokens",
    response_class=Json,
    status_code=201,
    responses=documented(TokenCreated, *ADMIN, status=201),
    summary="Create a token",
    description="The token is in this answer only; the store keeps its SHA-256.",
)
async def create_token(request: Request, principal: Admin, body: TokenRequest) -> Json:
    context = context_of(request)
    now = context.options.clock()
    try:
        made = await context.ingestor.call(
            lambda store: issue_token(
                store, body.role, body.network_operators, body.description, principal.actor, now
            )
        )
    except ValueError as exc:
        raise Problem(422, "Invalid request", str(exc)) from None
    return Json(
        {
            "id": made.id,
            "role": made.role,
            "network_operators": made.network_operators,
            "token": made.token,
        },
        status_code=201,
    )


@router.delete(
    "/v1/tokens/{token_id}",
    response_class=Json,
    responses=documented(TokenRevoked, 404, *ADMIN),
    summary="Revoke a token",
)
async def revoke(request: Request, principal: Admin, token_id: Id) -> Json:
    context = context_of(request)
    now = context.options.clock()
    if not await context.ingestor.call(lambda s: s.tokens.revoke(token_id, now, principal.actor)):
        raise Problem(404, "Not Found", f"no token {token_id} that is still valid")
    return Json({"id": token_id, "revoked": True})
