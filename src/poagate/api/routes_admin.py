"""DCC operations (admin): configuration, deliveries, the audit log, tokens. (Reference data:
``routes_reference``.)

Every change is written in the same transaction as its audit entry (who, when, what) and runs
on the writer connection, in turn with the decisions.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, field_validator

from poagate.api.auth import require
from poagate.api.context import context_of
from poagate.api.problems import Problem
from poagate.api.responses import Json
from poagate.api.tokens import Principal, checked_operators, new_token, token_sha256
from poagate.domain.ids import IdentifierError, parse_network_operator
from poagate.domain.reference import DEFAULT_AREA_OUTAGE_SECONDS, DEFAULT_MANUFACTURERS, Config
from poagate.service.releases import WATERMARK, arm_release_if_dark
from poagate.store.store import Store

router = APIRouter(tags=["operations"])
Admin = Annotated[Principal, Depends(require("admin"))]


# -- configuration ------------------------------------------------------------------------------


class Webhook(BaseModel):
    url: str = Field(description="Where the DNO receives forwarded AD1s (http or https).")
    secret: str | None = Field(
        None,
        min_length=16,
        description="The HMAC-SHA256 key of the signature header; leave out to keep the one "
        "set before.",
    )

    @field_validator("url")
    @classmethod
    def http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return url


class Delivery(BaseModel):
    webhooks: dict[str, Webhook] = Field(
        default_factory=dict, description="By network operator id."
    )
    max_attempts: int = Field(8, ge=1, le=100)
    timeout_seconds: float = Field(5.0, gt=0, le=120)
    backoff_seconds: float = Field(1.0, gt=0, le=3600)
    backoff_max_seconds: float = Field(300.0, gt=0, le=86400)

    @field_validator("webhooks")
    @classmethod
    def operators(cls, webhooks: dict[str, Webhook]) -> dict[str, Webhook]:
        for operator in webhooks:
            try:
                parse_network_operator(operator)
            except IdentifierError as exc:
                raise ValueError(str(exc)) from None
        return webhooks


class Settings(BaseModel):
    manufacturers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_MANUFACTURERS), min_length=1
    )
    window_minutes: int = Field(30, ge=1, le=1440)
    skew_tolerance_seconds: int = Field(0, ge=0, le=3600)
    # SPEC §9 guards, each off while null (docs/guards.md).
    release_after_minutes: int | None = Field(
        None,
        ge=1,
        description="release-if-dark: release a suppressed AD1 whose hub sent nothing within "
        "this many minutes of its event_at; it watches AD1s decided from when it is switched on.",
    )
    area_outage_threshold: int | None = Field(
        None,
        ge=1,
        description="area-outage: forward (or release) an AD1 when this many AD1s of other hubs "
        "of its postcode sector within area_outage_seconds were forwarded.",
    )
    area_outage_seconds: int = Field(DEFAULT_AREA_OUTAGE_SECONDS, ge=1)
    delivery: Delivery = Field(default_factory=Delivery)


def _masked(settings: dict[str, Any]) -> dict[str, Any]:
    shown = Settings.model_validate(settings).model_dump()
    for hook in shown["delivery"]["webhooks"].values():
        secret = hook.get("secret") or ""
        hook["secret"] = None if not secret else f"****{secret[-4:]}"
    return shown


@router.get("/v1/config", response_class=Json, summary="The configuration in force")
def get_config(request: Request, principal: Admin) -> Json:
    with context_of(request).reads.borrow() as store:
        return Json(_masked(store.reference.settings()))


@router.put(
    "/v1/config",
    response_class=Json,
    summary="Replace the configuration",
    description="Takes effect for events decided from now on. Webhook secrets are "
    "never shown back.",
)
async def put_config(request: Request, principal: Admin, body: Settings) -> Json:
    context = context_of(request)
    now = context.settings.clock()
    try:
        Config(tuple(body.manufacturers), body.window_minutes, body.skew_tolerance_seconds)
    except ValueError as exc:
        raise Problem(422, "Invalid configuration", str(exc)) from None

    def save(store: Store) -> dict[str, Any]:
        with store.transaction():
            current = Settings.model_validate(store.reference.settings()).model_dump()
            wanted = body.model_dump()
            for operator, hook in wanted["delivery"]["webhooks"].items():
                if hook["secret"] is None:
                    kept = current["delivery"]["webhooks"].get(operator, {}).get("secret")
                    if kept is None:
                        raise Problem(
                            422,
                            "Invalid configuration",
                            f"delivery.webhooks.{operator}.secret is needed: no "
                            "secret was set for that operator before",
                        )
                    hook["secret"] = kept
            changed = store.reference.save_settings(wanted, principal.actor, now)
            if wanted["release_after_minutes"] is not None and (
                current["release_after_minutes"] is None or store.meta(WATERMARK) is None
            ):
                arm_release_if_dark(store)  # it watches what is decided from now on
            if changed:
                store.audit.record(now, principal.actor, "config.set", _masked(wanted))
        return {**_masked(wanted), "changed": changed}

    return Json(await context.ingestor.call(save))


# -- deliveries, audit, tokens -------------------------------------------------------------------


@router.get(
    "/v1/deliveries",
    response_class=Json,
    summary="Deliveries to DNO webhooks",
    description="By status: dead (gave up; retry them here), pending or delivered.",
)
def deliveries(
    request: Request,
    principal: Admin,
    status: Literal["dead", "pending", "delivered"] = "dead",
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Json:
    with context_of(request).reads.borrow() as store:
        items = store.outbox.listing(status, after_id, limit)
        counts = store.outbox.counts()
    return Json({"items": items, "counts": counts})


@router.post(
    "/v1/deliveries/{delivery_id}/retry", response_class=Json, summary="Send a dead delivery again"
)
async def retry_delivery(request: Request, principal: Admin, delivery_id: int) -> Json:
    context = context_of(request)
    now = context.settings.clock()
    done = await context.ingestor.call(
        lambda store: store.outbox.retry(delivery_id, now, principal.actor)
    )
    if not done:
        raise Problem(404, "Not Found", f"no dead delivery {delivery_id}")
    return Json({"id": delivery_id, "status": "pending"})


@router.get("/v1/audit", response_class=Json, summary="Every change: who, when, what")
def audit(
    request: Request,
    principal: Admin,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Json:
    with context_of(request).reads.borrow() as store:
        entries = store.audit.entries(after, limit)
    return Json(
        {
            "items": [
                {"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action, "detail": e.detail}
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
    summary="Create a token",
    description="The token is in this answer only; the store keeps its SHA-256.",
)
async def create_token(request: Request, principal: Admin, body: TokenRequest) -> Json:
    try:
        operators = checked_operators(body.role, body.network_operators)
    except ValueError as exc:
        raise Problem(422, "Invalid request", str(exc)) from None
    context = context_of(request)
    token = new_token()
    now = context.settings.clock()
    token_id = await context.ingestor.call(
        lambda store: store.tokens.add(
            token_sha256(token), body.role, operators, body.description, now, principal.actor
        )
    )
    return Json(
        {"id": token_id, "role": body.role, "network_operators": operators, "token": token},
        status_code=201,
    )


@router.delete("/v1/tokens/{token_id}", response_class=Json, summary="Revoke a token")
async def revoke(request: Request, principal: Admin, token_id: int) -> Json:
    context = context_of(request)
    now = context.settings.clock()
    if not await context.ingestor.call(lambda s: s.tokens.revoke(token_id, now, principal.actor)):
        raise Problem(404, "Not Found", f"no token {token_id} that is still valid")
    return Json({"id": token_id, "revoked": True})
