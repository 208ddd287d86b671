"""Changing the configuration (spec §3, §9, §12, §14): the one act behind ``PUT /v1/config``
and behind suspend and resume from the console and the command line
(``poagate.service.controls.set_suppression``), so that one change gives one store change and
the same audit entries whichever channel it came through.

A change is one transaction, on the caller's writer connection (in turn with the decisions):

* ``change_configuration`` (``PUT /v1/config``): settings given replace theirs; those left out
  keep their values (``delivery`` is one setting, replaced as a whole).
* ``patch_configuration`` (``PATCH /v1/config``, ``poagate config patch``): a JSON Merge Patch
  (RFC 7396) over the configuration in force, so only the keys it names change — setting DNO
  13's webhook keeps DNO 12's — and ``null`` removes a key (a setting goes back to its default,
  a webhook is removed). The result is read as strictly as a ``PUT`` body.
* A webhook given keeps what its sender cannot see: a password shown as ``***`` and a secret
  left out are the stored ones; a new secret starts a rotation (``SECRET_ROTATION``), during
  which messages are signed with the new and the old.
* A guard switched on (or on without having been armed, as a replay leaves it) watches what is
  decided from now on: switching it on never releases or verifies the history.
* A retention shorter than the guards in force need (spec §15, ``service.retention``) is
  refused, saying the least allowed — checked on the configuration the change would put in
  force, so switching a guard on against a short retention is refused too.
* The configuration is recorded only when it differs from the one in force, and then audited
  (``config.set``) as the change: before and after of each path that changed, secrets and
  passwords shown as ``***``, and the operator's note; switching suppression off or on is
  audited too (``suppression.suspend``, ``suppression.resume``), with the note.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from poagate.domain.values import value
from poagate.formats.merge_patch import merge_patch
from poagate.formats.settings import Settings, SettingsError, Webhook
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


class ConfigurationError(SettingsError):
    """A change poagate refuses; ``problems`` name each setting and what is wrong with it."""


@value
class ConfigurationChange:
    """The configuration in force after a change, whether the change recorded a new one, and
    what changed (by path, as audited)."""

    settings: Settings
    changed: bool
    changes: dict[str, dict[str, Any]]


def change_configuration(
    store: ControlPath, given: Settings, actor: str, at: datetime, note: str | None = None
) -> ConfigurationChange:
    """Put in force the settings ``given`` names (its ``model_fields_set``), keeping the others
    (see the module docstring). Raises ``ConfigurationError`` for a change the gate or the
    stored webhooks refuse, ``ValueError`` for a note too long; nothing is changed then."""
    names = given.model_fields_set
    return _change(
        store,
        lambda current: current.model_copy(update={n: getattr(given, n) for n in names}),
        actor,
        at,
        note,
    )


def patch_configuration(
    store: ControlPath, patch: Mapping[str, Any], actor: str, at: datetime, note: str | None = None
) -> ConfigurationChange:
    """Apply the JSON Merge Patch ``patch`` to the configuration in force (see the module
    docstring). Raises ``ConfigurationError`` naming each path refused, ``ValueError`` for a
    note too long; nothing is changed then."""
    if not isinstance(patch, Mapping):
        raise ConfigurationError("a merge patch of the configuration must be a JSON object")

    def patched(current: Settings) -> Settings:
        try:
            return Settings.given(merge_patch(current.model_dump(mode="json"), patch))
        except SettingsError as exc:
            raise ConfigurationError(str(exc), exc.problems) from None

    return _change(store, patched, actor, at, note)


def _change(
    store: ControlPath,
    wanted_from: Callable[[Settings], Settings],
    actor: str,
    at: datetime,
    note: str | None,
) -> ConfigurationChange:
    note = checked_note(note)
    with store.transaction():
        current = store.reference.settings()
        wanted = wanted_from(current)
        try:
            wanted.gate_config()
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
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
        changes = wanted.changes_from(current) if changed else {}
        if changed:
            store.audit.record(at, actor, CONFIG_SET, {"changes": changes, "note": note})
        if wanted.suppression_enabled != current.suppression_enabled:
            action = RESUME if wanted.suppression_enabled else SUSPEND
            store.audit.record(at, actor, action, {"note": note})
    return ConfigurationChange(wanted, changed, changes)


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
