"""Changing the configuration (spec §3, §9, §12, §14): the one act behind ``PUT /v1/config``
and behind suspend and resume from the console and the command line
(``poagate.service.controls.set_suppression``), so that one change gives one store change and
the same audit entries whichever channel it came through.

A change is one transaction, on the caller's writer connection (in turn with the decisions):

* Settings given replace theirs; those left out keep their values (``delivery`` is one setting,
  replaced as a whole).
* A webhook given keeps what its sender cannot see: a password shown as ``***`` and a secret
  left out are the stored ones; a new secret starts a rotation (``SECRET_ROTATION``), during
  which messages are signed with the new and the old.
* A guard switched on (or on without having been armed, as a replay leaves it) watches what is
  decided from now on: switching it on never releases or verifies the history.
* A retention shorter than the guards in force need (spec §15, ``service.retention``) is
  refused, saying the least allowed — checked on the configuration the change would put in
  force, so switching a guard on against a short retention is refused too.
* The configuration is recorded only when it differs from the one in force, and then audited
  (``config.set``, the configuration as it is shown: no secret); switching suppression off or
  on is audited too (``suppression.suspend``, ``suppression.resume``), with the operator's note.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from poagate.domain.values import value
from poagate.formats.settings import Settings, Webhook
from poagate.formats.webhook_urls import MASK, has_masked_password, masked_url
from poagate.service.acts import checked_note
from poagate.service.releases import WATERMARK, arm_release_if_dark
from poagate.service.retention import RetentionError, check_retention
from poagate.service.verifications import WATERMARK as VERIFY_WATERMARK
from poagate.service.verifications import arm_verification
from poagate.store.ports import ControlPath

SECRET_ROTATION = timedelta(hours=24)  # how long a replaced secret still signs (decisions.md)
CONFIG_SET = "config.set"
SUSPEND = "suppression.suspend"
RESUME = "suppression.resume"


class ConfigurationError(ValueError):
    """A change poagate refuses; the message names the setting and what to send instead."""


@value
class ConfigurationChange:
    """The configuration in force after a change, and whether the change recorded a new one."""

    settings: Settings
    changed: bool


def change_configuration(
    store: ControlPath, given: Settings, actor: str, at: datetime, note: str | None = None
) -> ConfigurationChange:
    """Put in force the settings ``given`` names (its ``model_fields_set``), keeping the others
    (see the module docstring). Raises ``ConfigurationError`` for a change the gate or the
    stored webhooks refuse, ``ValueError`` for a note too long; nothing is changed then."""
    note = checked_note(note)
    try:
        given.gate_config()
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    with store.transaction():
        current = store.reference.settings()
        wanted = current.model_copy(
            update={name: getattr(given, name) for name in given.model_fields_set}
        )
        stored_hooks = current.delivery.webhooks
        hooks = {
            operator: _keeping_secrets(
                f"delivery.webhooks.{operator}", hook, stored_hooks.get(operator), at
            )
            for operator, hook in wanted.delivery.webhooks.items()
        }
        dsp = wanted.dsp_webhook
        if dsp is not None:
            dsp = _keeping_secrets("dsp_webhook", dsp, current.dsp_webhook, at)
        wanted = wanted.model_copy(
            update={
                "delivery": wanted.delivery.model_copy(update={"webhooks": hooks}),
                "dsp_webhook": dsp,
            }
        )
        try:
            check_retention(wanted)
        except RetentionError as exc:
            raise ConfigurationError(str(exc)) from None
        changed = store.reference.save_settings(wanted, actor, at)
        if wanted.release_after_minutes is not None and (
            current.release_after_minutes is None or store.meta(WATERMARK) is None
        ):
            arm_release_if_dark(store)  # it watches what is decided from now on
        if wanted.verify_after_minutes is not None and (
            current.verify_after_minutes is None or store.meta(VERIFY_WATERMARK) is None
        ):
            arm_verification(store)  # it verifies what is decided from now on
        if changed:
            store.audit.record(at, actor, CONFIG_SET, wanted.masked())
        if wanted.suppression_enabled != current.suppression_enabled:
            action = RESUME if wanted.suppression_enabled else SUSPEND
            store.audit.record(at, actor, action, {"note": note})
    return ConfigurationChange(wanted, changed)


def _keeping_secrets(where: str, hook: Webhook, stored: Webhook | None, at: datetime) -> Webhook:
    """A webhook as it will be stored: the masked password and a left-out secret taken from
    what is stored, and a new secret starting a rotation (see ``SECRET_ROTATION``)."""
    url = hook.url
    if has_masked_password(url):
        if stored is None or masked_url(stored.url) != url:
            raise ConfigurationError(
                f"{where}.url has the password {MASK}, which keeps the "
                "stored one, but its other parts differ from the stored URL: send the password"
            )
        url = stored.url
    secret = hook.secret
    previous = None if stored is None else stored.previous_secret
    until = None if stored is None else stored.previous_secret_until
    old_secret = None if stored is None else stored.secret
    if secret is None:
        if old_secret is None:
            raise ConfigurationError(
                f"{where}.secret is needed: no secret was set for that operator before"
            )
        secret = old_secret
    elif old_secret is not None and secret != old_secret:
        previous, until = old_secret, at + SECRET_ROTATION
    return hook.model_copy(
        update={
            "url": url,
            "secret": secret,
            "previous_secret": previous,
            "previous_secret_until": until,
        }
    )
