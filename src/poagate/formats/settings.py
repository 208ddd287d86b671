"""The stored configuration: one typed model from an operator's ``PUT /v1/config`` to the store,
and from the store to the gate (``gate_config``), the delivery worker, the DSP push and every
page that shows it (``masked``). (The server process's own options, from its environment, are
``poagate.api.options``.)

The model is read two ways:

* **given** (the default): what an operator sends. Every check applies — the bounds, a webhook
  URL poagate may send to (``poagate.formats.webhook_urls``), a network operator id.
* **stored** (``Settings.stored``): what the store holds, read with the same model but without
  the checks an operator's input gets that came after it was written: a webhook URL set before
  URLs were checked stays readable (the delivery worker checks each URL again before each
  delivery, and that delivery fails), so one old value never stops the gate reading the rest.

Defaults are stated once: the gate's are the domain's ``Config``'s, delivery's are here. Keys a
body does not know are ignored today (``extra="ignore"`` on each section); making them an
error is one setting a section. The models are frozen: the store hands the same instance to
every reader of one version (a change is ``model_copy(update=...)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from poagate.domain.ids import IdentifierError, parse_network_operator
from poagate.domain.reference import Config
from poagate.formats.webhook_urls import WebhookUrlError, check_webhook_url, masked_url

STORED = {"stored": True}  # the validation context of what the store holds
GATE_FIELDS = (
    "manufacturers",
    "window_minutes",
    "skew_tolerance_seconds",
    "release_after_minutes",
    "area_outage_threshold",
    "area_outage_seconds",
    "suppression_enabled",
    "verify_after_minutes",
    "verify_timeout_minutes",
    "verify_attempts",
)
_GATE = Config()  # the gate's defaults (spec §3, §9, §12, §14)


def _given(info: ValidationInfo) -> bool:
    """Whether the value being read is an operator's input (not what the store holds)."""
    return not (isinstance(info.context, Mapping) and info.context.get("stored"))


class Webhook(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

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
    # spec §18: what the DNO receives (a DNO's webhook; the DSP's push is always its own JSON).
    format: Literal["envelope", "original"] = Field(
        "envelope",
        description="envelope: the Standard Webhooks payload (type ad1.forwarded or "
        "ad1.released, timestamp, data with the alert's fields and the DSP's message); "
        "original: the DSP's message alone, as received (for a system that takes DUIS).",
    )

    @field_validator("url")
    @classmethod
    def http_url(cls, url: str, info: ValidationInfo) -> str:
        if not _given(info):
            return url
        try:
            return check_webhook_url(url)
        except WebhookUrlError as exc:
            raise ValueError(str(exc)) from None

    @property
    def usable(self) -> bool:
        """Whether messages can be sent: a URL and a secret to sign with."""
        return bool(self.url) and bool(self.secret)

    def secrets_in_force(self, now: datetime) -> list[str]:
        """The secret, and during a rotation the one it replaced (until its time ends)."""
        found = [str(self.secret)]
        previous, until = self.previous_secret, self.previous_secret_until
        if previous and until is not None and until > now:
            found.append(previous)
        return found


class Delivery(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    webhooks: dict[str, Webhook] = Field(
        default_factory=dict, description="By network operator id."
    )
    # spec §18: retried with capped exponential backoff for retry_for_hours, then dead.
    retry_for_hours: float = Field(
        24.0,
        gt=0,
        le=720,
        description="How long a failed delivery is retried (capped exponential backoff, from "
        "backoff_seconds up to backoff_max_seconds) before it is dead.",
    )
    max_attempts: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="Dead after this many attempts even within retry_for_hours (null: no limit).",
    )
    timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=120,
        description="The deadline of one attempt, for the whole exchange: connecting, "
        "sending and the answer (of which at most 64 KiB is read).",
    )
    backoff_seconds: float = Field(1.0, gt=0, le=3600)
    backoff_max_seconds: float = Field(300.0, gt=0, le=86400)

    @field_validator("webhooks")
    @classmethod
    def operators(cls, webhooks: dict[str, Webhook], info: ValidationInfo) -> dict[str, Webhook]:
        if not _given(info):
            return webhooks
        for operator in webhooks:
            try:
                parse_network_operator(operator)
            except IdentifierError as exc:
                raise ValueError(str(exc)) from None
        return webhooks


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    manufacturers: list[str] = Field(
        default_factory=lambda: list(_GATE.manufacturers), min_length=1
    )
    window_minutes: int = Field(_GATE.window_minutes, ge=1, le=1440)
    skew_tolerance_seconds: int = Field(_GATE.skew_tolerance_seconds, ge=0, le=3600)
    # spec §9 guards, each off while null (docs/guards.md).
    release_after_minutes: int | None = Field(
        _GATE.release_after_minutes,
        ge=1,
        le=525_600,  # a year: times stay inside the calendar (formats.limits)
        description="release-if-dark: release a suppressed AD1 whose hub sent nothing within "
        "this many minutes of its event_at; it watches AD1s decided from when it is switched on.",
    )
    area_outage_threshold: int | None = Field(
        _GATE.area_outage_threshold,
        ge=1,
        le=1_000_000,
        description="area-outage: forward (or release) an AD1 when this many AD1s of other hubs "
        "of its postcode sector within area_outage_seconds were forwarded.",
    )
    area_outage_seconds: int = Field(_GATE.area_outage_seconds, ge=1, le=86_400)
    suppression_enabled: bool = Field(
        _GATE.suppression_enabled,
        description="false suspends suppression (every AD1 is forwarded, reason "
        "suppression_suspended; windows are still opened), true resumes it.",
    )
    # spec §14 verification guard, off while verify_after_minutes is null (docs/guards.md).
    verify_after_minutes: int | None = Field(
        _GATE.verify_after_minutes,
        ge=1,
        le=1440,
        description="verification: ask the DSP to verify a suppressed AD1's site this many "
        "minutes after its event_at (AD1s decided from when it is switched on).",
    )
    verify_timeout_minutes: int = Field(_GATE.verify_timeout_minutes, ge=1, le=1440)
    verify_attempts: int = Field(_GATE.verify_attempts, ge=1, le=10)
    dsp_webhook: Webhook | None = Field(
        None, description="Where new verification requests are pushed to the DSP, signed."
    )
    delivery: Delivery = Field(default_factory=Delivery)

    @classmethod
    def stored(cls, data: Mapping[str, Any]) -> Settings:
        """What the store holds (see the module docstring); the defaults for what it lacks
        (a store written before a setting existed)."""
        return cls.model_validate(data, context=STORED)

    def gate_config(self) -> Config:
        """What the gate reads; raises ``ValueError`` when the domain refuses it."""
        gate = {name: getattr(self, name) for name in GATE_FIELDS}
        return Config(**{**gate, "manufacturers": tuple(self.manufacturers)})

    def with_gate(self, config: Config) -> Settings:
        """These settings with the gate's taken from ``config``, checked as stored settings
        are: ``ValueError`` naming a setting out of the range ``PUT /v1/config`` accepts."""
        gate = {name: getattr(config, name) for name in GATE_FIELDS}
        gate["manufacturers"] = list(config.manufacturers)
        try:
            return Settings.stored({**self.model_dump(), **gate})
        except ValidationError as exc:
            raise ValueError(
                "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            ) from None

    def masked(self) -> dict[str, Any]:
        """The configuration as it is shown (``GET /v1/config``, a change's answer and audit
        entry, the console): no secret, not even a part of one, and no password of a webhook
        URL."""
        shown = self.model_dump()
        hooks = list(shown["delivery"]["webhooks"].values())
        if shown["dsp_webhook"] is not None:
            hooks.append(shown["dsp_webhook"])
        for hook in hooks:
            hook["secret_set"] = bool(hook.get("secret"))
            hook["secret"] = None
            hook["previous_secret"] = None
            hook["url"] = masked_url(hook["url"])
        return shown
