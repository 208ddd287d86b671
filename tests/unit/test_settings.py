"""The stored configuration's one model (``formats.settings``): what an operator sends is
checked in full, what the store holds is read even when it predates a check, the gate reads its
part as the domain's ``Config``, and nothing secret is ever shown."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from poagate.domain.reference import Config
from poagate.formats.settings import Settings, Webhook
from tests.helpers import ts

SECRET = "whsec_" + "A" * 32


def test_an_operators_webhook_url_is_checked_but_a_stored_one_is_read_as_it_is() -> None:
    hooks = {"delivery": {"webhooks": {"12": {"url": "http://169.254.169.254/", "secret": SECRET}}}}
    with pytest.raises(ValidationError, match="link-local"):
        Settings.model_validate(hooks)
    # Set before URLs were checked: still readable, so the rest of the configuration is too
    # (the delivery worker checks the URL again before each delivery and refuses it).
    stored = Settings.stored(hooks)
    assert stored.delivery.webhooks["12"].url == "http://169.254.169.254/"


def test_a_store_that_recorded_no_configuration_reads_as_the_gates_defaults() -> None:
    assert Settings.stored({}).gate_config() == Config()
    assert Settings.stored({"window_minutes": 20}).gate_config() == Config(window_minutes=20)


def test_the_gate_reads_every_gate_setting_from_the_model() -> None:
    config = Config(
        manufacturers=("X", "Y"),
        window_minutes=20,
        skew_tolerance_seconds=5,
        release_after_minutes=60,
        area_outage_threshold=3,
        area_outage_seconds=600,
        suppression_enabled=False,
        verify_after_minutes=10,
        verify_timeout_minutes=3,
        verify_attempts=4,
    )
    assert Settings().with_gate(config).gate_config() == config


def test_a_gate_setting_out_of_the_apis_range_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"^window_minutes: .*less than or equal to 1440"):
        Settings().with_gate(Config(window_minutes=2000))


def test_what_is_shown_has_no_secret_and_no_password() -> None:
    settings = Settings.model_validate(
        {
            "delivery": {"webhooks": {"12": {"url": "https://u:hunter2-x@dno.example/h",
                                             "secret": SECRET}}},
            "dsp_webhook": {"url": "https://dsp.example/h", "secret": SECRET},
        }
    )  # fmt: skip
    shown = settings.masked()
    for hook in (shown["delivery"]["webhooks"]["12"], shown["dsp_webhook"]):
        assert (hook["secret"], hook["previous_secret"], hook["secret_set"]) == (None, None, True)
    assert shown["delivery"]["webhooks"]["12"]["url"] == "https://u:***@dno.example/h"
    assert "hunter2" not in str(shown)
    assert SECRET not in str(shown)


def test_a_replaced_secret_signs_until_its_rotation_ends() -> None:
    until = ts("2026-03-02T10:00:00Z")
    hook = Webhook(url="http://127.0.0.1:9/", secret="new" * 6, previous_secret="old" * 6,
                   previous_secret_until=until)  # fmt: skip
    assert hook.secrets_in_force(until - timedelta(seconds=1)) == ["new" * 6, "old" * 6]
    assert hook.secrets_in_force(until) == ["new" * 6]
