"""DCC operations (admin): configuration, deliveries, the audit log, tokens. (Reference data:
``routes_reference``.)

Every change is written in the same transaction as its audit entry (who, when, what) and runs
on the writer connection, in turn with the decisions.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field, field_validator

from poagate.api.auth import require
from poagate.api.context import context_of
from poagate.api.problems import Problem
from poagate.api.responses import Json
from poagate.api.schemas import (
    ADMIN,
    AuditPage,
    Deliveries,
    RetryAnswer,
    TokenCreated,
    TokenRevoked,
    documented,
)
from poagate.api.tokens import Principal, checked_operators, new_token, token_sha256
from poagate.delivery.urls import (
    MASK,
    WebhookUrlError,
    check_webhook_url,
    has_masked_password,
    masked_url,
)
from poagate.domain.ids import IdentifierError, parse_network_operator
from poagate.domain.reference import (
    DEFAULT_AREA_OUTAGE_SECONDS,
    DEFAULT_MANUFACTURERS,
    DEFAULT_VERIFY_ATTEMPTS,
    DEFAULT_VERIFY_TIMEOUT_MINUTES,
    Config,
)
from poagate.formats.limits import MAX_ID
from poagate.formats.timestamps import format_timestamp
from poagate.service.controls import record_suppression_change
from poagate.service.releases import WATERMARK, arm_release_if_dark
from poagate.service.verifications import WATERMARK as VERIFY_WATERMARK
from poagate.service.verifications import arm_verification
from poagate.store.store import Store

router = APIRouter(tags=["operations"])
Admin = Annotated[Principal, Depends(require("admin"))]
After = Annotated[int, Query(ge=0, le=MAX_ID)]
Id = Annotated[int, Path(ge=1, le=MAX_ID)]


# -- configuration ------------------------------------------------------------------------------


SECRET_ROTATION = timedelta(hours=24)  # how long a replaced secret still signs (decisions.md)


class Webhook(BaseModel):
    url: str = Field(
        description="Where the DNO receives forwarded AD1s (http or https). Link-local and "
        "cloud-metadata addresses are refused; a password in it is shown as ***, and sending "
        "*** back keeps the stored one."
    )
    secret: str | None = Field(
        None,
        min_length=16,
        max_length=256,
        description="The Standard Webhooks secret: whsec_ and the base64 of 24 to 64 random "
        "bytes. Leave out to keep the one set before. Never shown back. A new secret starts a "
        "rotation: for 24 hours messages are signed with the new and the old.",
    )
    previous_secret: str | None = Field(
        None, description="Set by poagate during a rotation; what is sent here is ignored."
    )
    previous_secret_until: datetime | None = Field(
        None, description="When the replaced secret stops signing (set by poagate)."
    )

    @field_validator("url")
    @classmethod
    def http_url(cls, url: str) -> str:
        try:
            return check_webhook_url(url)
        except WebhookUrlError as exc:
            raise ValueError(str(exc)) from None


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
    # spec §9 guards, each off while null (docs/guards.md).
    release_after_minutes: int | None = Field(
        None,
        ge=1,
        le=525_600,  # a year: times stay inside the calendar (formats.limits)
        description="release-if-dark: release a suppressed AD1 whose hub sent nothing within "
        "this many minutes of its event_at; it watches AD1s decided from when it is switched on.",
    )
    area_outage_threshold: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="area-outage: forward (or release) an AD1 when this many AD1s of other hubs "
        "of its postcode sector within area_outage_seconds were forwarded.",
    )
    area_outage_seconds: int = Field(DEFAULT_AREA_OUTAGE_SECONDS, ge=1, le=86_400)
    suppression_enabled: bool = Field(
        True,
        description="false suspends suppression (every AD1 is forwarded, reason "
        "suppression_suspended; windows are still opened), true resumes it.",
    )
    # spec §14 verification guard, off while verify_after_minutes is null (docs/guards.md).
    verify_after_minutes: int | None = Field(
        None,
        ge=1,
        le=1440,
        description="verification: ask the DSP to verify a suppressed AD1's site this many "
        "minutes after its event_at (AD1s decided from when it is switched on).",
    )
    verify_timeout_minutes: int = Field(DEFAULT_VERIFY_TIMEOUT_MINUTES, ge=1, le=1440)
    verify_attempts: int = Field(DEFAULT_VERIFY_ATTEMPTS, ge=1, le=10)
    dsp_webhook: Webhook | None = Field(
        None, description="Where new verification requests are pushed to the DSP, signed."
    )
    delivery: Delivery = Field(default_factory=Delivery)


def masked_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The configuration as it is shown (GET, PUT's answer, the audit): no secret, not even a
    part of one, and no password of a webhook URL."""
    shown = Settings.model_validate(settings).model_dump()
    hooks = list(shown["delivery"]["webhooks"].values())
    if shown["dsp_webhook"] is not None:
        hooks.append(shown["dsp_webhook"])
    for hook in hooks:
        hook["secret_set"] = bool(hook.get("secret"))
        hook["secret"] = None
        hook["previous_secret"] = None
        hook["url"] = masked_url(hook["url"])
    return shown


def _with_stored_secrets(
    where: str, hook: dict[str, Any], stored: dict[str, Any], now: datetime
) -> None:
    """A webhook as it will be stored: the masked password and a left-out secret taken from
    what is stored, and a new secret starting a rotation (see ``SECRET_ROTATION``)."""
    old_url, old_secret = stored.get("url"), stored.get("secret")
    if has_masked_password(hook["url"]):
        if old_url is None or masked_url(old_url) != hook["url"]:
            raise Problem(
                422,
                "Invalid configuration",
                f"{where}.url has the password {MASK}, which keeps the "
                "stored one, but its other parts differ from the stored URL: send the password",
            )
        hook["url"] = old_url
    hook["previous_secret"] = stored.get("previous_secret")
    hook["previous_secret_until"] = stored.get("previous_secret_until")
    if hook["secret"] is None:
        if old_secret is None:
            raise Problem(
                422,
                "Invalid configuration",
                f"{where}.secret is needed: no secret was set for that operator before",
            )
        hook["secret"] = old_secret
    elif old_secret is not None and hook["secret"] != old_secret:
        hook["previous_secret"] = old_secret
        hook["previous_secret_until"] = format_timestamp(now + SECRET_ROTATION)


@router.get(
    "/v1/config",
    response_class=Json,
    responses=documented(Settings, 401, 403, 503),
    summary="The configuration in force",
)
def get_config(request: Request, principal: Admin) -> Json:
    with context_of(request).reads.borrow() as store:
        return Json(masked_settings(store.reference.settings()))


@router.put(
    "/v1/config",
    response_class=Json,
    responses=documented(Settings, *ADMIN),
    summary="Change the configuration",
    description="Takes effect for events decided from now on. Settings left out of the body "
    'keep their values (so {"suppression_enabled": false} only suspends); a setting given '
    "replaces its value, delivery as a whole. Webhook secrets are never shown back.",
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
            current = Settings.model_validate(store.reference.settings()).model_dump(mode="json")
            # Settings left out keep their values; those given replace them.
            given = body.model_dump(mode="json", include=body.model_fields_set)
            wanted = {**current, **given}
            for operator, hook in wanted["delivery"]["webhooks"].items():
                stored = current["delivery"]["webhooks"].get(operator, {})
                _with_stored_secrets(f"delivery.webhooks.{operator}", hook, stored, now)
            if wanted["dsp_webhook"] is not None:
                stored = current["dsp_webhook"] or {}
                _with_stored_secrets("dsp_webhook", wanted["dsp_webhook"], stored, now)
            changed = store.reference.save_settings(wanted, principal.actor, now)
            if wanted["release_after_minutes"] is not None and (
                current["release_after_minutes"] is None or store.meta(WATERMARK) is None
            ):
                arm_release_if_dark(store)  # it watches what is decided from now on
            if wanted["verify_after_minutes"] is not None and (
                current["verify_after_minutes"] is None or store.meta(VERIFY_WATERMARK) is None
            ):
                arm_verification(store)  # it verifies what is decided from now on
            if changed:
                store.audit.record(now, principal.actor, "config.set", masked_settings(wanted))
            if wanted["suppression_enabled"] != current["suppression_enabled"]:
                record_suppression_change(
                    store, wanted["suppression_enabled"], principal.actor, now
                )
        return {**masked_settings(wanted), "changed": changed}

    return Json(await context.ingestor.call(save))


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


@router.post(
    "/v1/deliveries/{delivery_id}/retry",
    response_class=Json,
    responses=documented(RetryAnswer, 404, *ADMIN),
    summary="Send a dead delivery again",
)
async def retry_delivery(request: Request, principal: Admin, delivery_id: Id) -> Json:
    context = context_of(request)
    now = context.settings.clock()
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
)
def audit(
    request: Request,
    principal: Admin,
    after: After = 0,
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
    responses=documented(TokenCreated, *ADMIN, status=201),
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


@router.delete(
    "/v1/tokens/{token_id}",
    response_class=Json,
    responses=documented(TokenRevoked, 404, *ADMIN),
    summary="Revoke a token",
)
async def revoke(request: Request, principal: Admin, token_id: Id) -> Json:
    context = context_of(request)
    now = context.settings.clock()
    if not await context.ingestor.call(lambda s: s.tokens.revoke(token_id, now, principal.actor)):
        raise Problem(404, "Not Found", f"no token {token_id} that is still valid")
    return Json({"id": token_id, "revoked": True})
