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

Defaults are stated once: the gate's are the domain's ``Config``'s, delivery's are here. The
models are frozen: the store hands the same instance to every reader of one version (a change
is ``model_copy(update=...)``).

Strictness (spec §17): what an operator sends is read by ``Settings.given`` — a key no section
knows (``suppresion_enabled``, ``delivery.webhook``) and a value of the wrong JSON type
(``"10"`` for a number, ``"false"`` for a boolean) are refused, each naming its path
(``SettingsError``). What the store holds may carry keys this code does not know: written by a
newer release during a rolling upgrade, or by an older one before a setting was removed.
``Settings.stored`` drops them (``_Section``), so the store always loads; they are gone from
the next version an operator records. Every section subclasses ``_Section`` (a new one too),
which is what makes it strict for input and lenient for the store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict

from poagate.domain.ids import IdentifierError, parse_network_operator
from poagate.domain.reference import Config
from poagate.domain.safety import ReferenceLimits
from poagate.formats.merge_patch import differences
from poagate.formats.webhook_urls import MASK, WebhookUrlError, check_webhook_url, masked_url

STORED = {"stored": True}  # the validation context of what the store holds
OPERATOR = {"operator": True}  # that of what an operator sends (``Settings.given``)
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
_LIMITS = ReferenceLimits()  # reference loads' defaults (spec §17)


FIRST_OPERATOR_ID = 10  # distributor ids are two digits from 10 (spec §17)
# Keys poagate sets and shows (``masked``): sent back, they are ignored, never refused.
READ_ONLY = frozenset({"secret_set", "previous_secret", "previous_secret_until"})


class SettingsError(ValueError):
    """Settings refused: each problem is the path of a setting (``delivery.webhooks.12.url``)
    and what is wrong with it."""

    def __init__(self, message: str, problems: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems) or [("", message)]


def _given(info: ValidationInfo) -> bool:
    """Whether the value being read is an operator's input (not what the store holds)."""
    return not (isinstance(info.context, Mapping) and info.context.get("stored"))


def _keys_not_closed(schema: JsonDict) -> None:
    schema.pop("additionalProperties", None)


class _Section(BaseModel):
    """A section of the configuration: strict for what an operator sends (an unknown key is an
    error naming its path), lenient for what the store holds (see the module docstring)."""

    # Unknown keys are refused (422), but the description does not say so by
    # ``additionalProperties: false``: what is shown back carries ``secret_set`` besides.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra=_keys_not_closed,
    )

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, Mapping):
            return data
        if not _given(info):
            return {k: v for k, v in data.items() if k in cls.model_fields}
        if info.context is OPERATOR:
            return {k: v for k, v in data.items() if k not in READ_ONLY}
        return data


class Webhook(_Section):
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


class Delivery(_Section):
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
            if int(operator) < FIRST_OPERATOR_ID:
                raise ValueError(
                    f"network operator {operator!r}: distributor ids are two digits from "
                    f"{FIRST_OPERATOR_ID} (10 to 23 the licensed DNO areas, 24 and above "
                    "independent operators)"
                )
        return webhooks


class Reference(_Section):
    """Reference data's safety limits (spec §17): what a full load of the inventory or the GUID
    list may do to the version in force before it is refused (a load forced past them is
    audited as such)."""

    max_rejected_share: float = Field(
        _LIMITS.max_rejected_share,
        ge=0,
        le=1,
        description="A full load is refused when more than this share of its rows is rejected.",
    )
    max_shrink: float = Field(
        _LIMITS.max_shrink,
        ge=0,
        le=1,
        description="A full load (or a change file) is refused when it would leave fewer than "
        "this share of the devices (GUID list entries) in force.",
    )
    kept_inventory_versions: int = Field(
        2,
        ge=0,
        le=100,
        description="How many replaced full loads of the inventory keep their devices, to be "
        "put back in force (poagate inventory rollback); older ones are cleared.",
    )


# -- retention (spec §15) ---------------------------------------------------------------------


class Retention(_Section):
    """How long each kind of data is kept (spec §15; docs/operations.md "How long data is kept"
    gives each default's reason). Maintenance (``poagate maintenance run``, and every hour in
    ``poagate serve``) purges what is older; what a DNO or a guard may still need is never
    purged, whatever its age. ``poagate.service.retention`` refuses values shorter than the
    guards in force need."""

    suppression_log_days: int = Field(
        730,
        ge=1,
        le=36_500,
        description="Suppression Log entries (and their verification requests): a DNO's "
        "Guaranteed Standards claim window and disputes.",
    )
    forwarded_days: int = Field(90, ge=1, le=36_500, description="Forwarded AD1s.")
    activations_days: int = Field(
        400, ge=1, le=36_500, description="Activations and their windows, by their last repeat."
    )
    signs_of_life_hours: int = Field(
        48,
        ge=1,
        le=876_000,
        description="Device messages and activation outcomes (what the guards read).",
    )
    deliveries_days: int = Field(
        30, ge=1, le=36_500, description="Delivered or dead deliveries to the DNOs' webhooks."
    )
    inputs_days: int = Field(
        30, ge=1, le=36_500, description="Ignored and rejected input, and repeated AD1s."
    )
    audit_days: int = Field(2555, ge=1, le=36_500, description="The audit log.")
    reference_versions: int = Field(
        5,
        ge=0,
        le=1000,
        description="Reference-data versions kept besides the one in force (configuration, "
        "GUID list, inventory).",
    )


class Settings(_Section):
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
    reference: Reference = Field(default_factory=Reference)
    retention: Retention = Field(default_factory=Retention)  # spec §15

    @classmethod
    def given(cls, body: bytes | str | Mapping[str, Any]) -> Settings:
        """What an operator sends (a JSON object, as text or parsed), read strictly (see the
        module docstring). Raises ``SettingsError`` naming every path refused."""
        text = body if isinstance(body, bytes | str) else orjson.dumps(body)
        try:
            return cls.model_validate_json(text, strict=True, context=OPERATOR)
        except ValidationError as exc:
            raise settings_error(exc) from None

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
        """The configuration as it is shown (``GET /v1/config``, a change's answer,
        ``poagate config show``, the console): no secret, not even a part of one, and no
        password of a webhook URL."""
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

    def changes_from(self, before: Settings) -> dict[str, dict[str, Any]]:
        """What changed from ``before`` to these settings, by path (``window_minutes``,
        ``delivery.webhooks.13.url``): ``{"before": ..., "after": ...}``, null where a value is
        not there. A secret is shown as ``***`` (so a new one shows as a change, never what it
        is), and a webhook URL's password too."""
        found = differences(before.model_dump(mode="json"), self.model_dump(mode="json"))
        for path, change in found.items():
            key = path.rsplit(".", 1)[-1]
            for side, value in change.items():
                if value is not None and key in ("secret", "previous_secret"):
                    change[side] = MASK
                elif isinstance(value, str) and key == "url":
                    change[side] = masked_url(value)
        return found


def settings_error(exc: ValidationError) -> SettingsError:
    """Pydantic's errors as paths and what to send instead."""
    problems = []
    for error in exc.errors()[:20]:
        where = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            problems.append((where, "is not a setting poagate knows (a misspelt name?)"))
        elif error["type"] in ("json_invalid", "model_type") and not where:
            problems.append(("", "the body must be a JSON object of settings"))
        else:
            problems.append((where, re.sub(r"^Value error, ", "", error["msg"])))
    message = "; ".join(f"{where}: {msg}" if where else msg for where, msg in problems)
    return SettingsError(message, problems)
