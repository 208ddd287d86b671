"""The stored configuration's one model (``formats.settings``): what an operator sends is
checked in full, what the store holds is read even when it predates a check, the gate reads its
part as the domain's ``Config``, and nothing secret is ever shown."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from poagate.domain.reference import Config
from poagate.formats.merge_patch import merge_patch
from poagate.formats.settings import Settings, SettingsError, Webhook
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


# -- strict for an operator, lenient for the store (spec §17) -----------------------------------


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"suppresion_enabled": False}, "suppresion_enabled"),
        ({"delivery": {"webhook": {"12": {"url": "http://127.0.0.1:9/"}}}}, "delivery.webhook"),
        ({"window_minutes": "10"}, "window_minutes"),
        ({"suppression_enabled": "false"}, "suppression_enabled"),
        ({"window_minutes": 0}, "window_minutes"),
        ({"manufacturers": ["X", 1]}, "manufacturers.1"),
        (
            {"dsp_webhook": {"url": "http://127.0.0.1:9/", "secret": SECRET, "x": 1}},
            "dsp_webhook.x",
        ),
    ],
)
def test_an_unknown_key_or_a_value_of_the_wrong_type_is_refused_naming_its_path(
    body: dict[str, object], path: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.given(body)
    assert [where for where, _ in refused.value.problems] == [path]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:91000/x",
        "http://127.0.0.1:0/x",
        "http://dno..example/x",
        "http://-dno-/x",
        "http://dno_13.example/x",
    ],
)
def test_a_webhook_url_no_delivery_could_reach_is_refused_when_configured(url: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.given({"delivery": {"webhooks": {"12": {"url": url, "secret": SECRET}}}})
    assert refused.value.problems[0][0] == "delivery.webhooks.12.url"


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:65535/x", "https://dno13.example/poa", "http://xn--bcher-kva.example/"],
)
def test_webhook_urls_with_a_port_and_a_dns_name_are_accepted(url: str) -> None:
    given = Settings.given({"delivery": {"webhooks": {"12": {"url": url, "secret": SECRET}}}})
    assert given.delivery.webhooks["12"].url == url


@pytest.mark.parametrize(
    ("operator", "accepted"),
    [("00", False), ("09", False), ("1", False), ("10", True), ("23", True), ("99", True)],
)
def test_network_operator_ids_are_two_digits_from_10(operator: str, accepted: bool) -> None:
    body = {"delivery": {"webhooks": {operator: {"url": "http://127.0.0.1:9/", "secret": SECRET}}}}
    if accepted:
        assert operator in Settings.given(body).delivery.webhooks
    else:
        with pytest.raises(SettingsError, match=f"network operator '{operator}'"):
            Settings.given(body)


def test_a_store_holding_keys_this_code_does_not_know_still_loads() -> None:
    # Written by a newer release (a rolling upgrade) or before a setting was removed.
    stored = Settings.stored(
        {
            "window_minutes": 20,
            "retention": {"days": 400},
            "delivery": {
                "retry_for_hours": 48,
                "webhooks": {"12": {"url": "http://127.0.0.1:9/", "secret": SECRET, "colour": "x"}},
            },
        }
    )
    assert stored.window_minutes == 20
    assert stored.delivery.webhooks["12"].secret == SECRET
    with pytest.raises(SettingsError):
        Settings.given({"window_minutes": 20, "retention": {"days": 400}})


def test_what_is_shown_can_be_sent_back_as_it_is() -> None:
    settings = Settings.given(
        {"delivery": {"webhooks": {"12": {"url": "http://127.0.0.1:9/", "secret": SECRET}}}}
    )
    shown = settings.masked()  # secret_set, previous_secret(_until): set by poagate, ignored
    assert Settings.given(shown).delivery.webhooks["12"].url == "http://127.0.0.1:9/"


def test_a_change_is_each_path_before_and_after_with_secrets_and_passwords_masked() -> None:
    before = Settings.given(
        {"delivery": {"webhooks": {"12": {"url": "http://u:pw-1@127.0.0.1:9/", "secret": SECRET}}}}
    )
    after = Settings.given(
        {
            "window_minutes": 20,
            "delivery": {
                "webhooks": {
                    "12": {"url": "http://u:pw-2@127.0.0.1:9/", "secret": SECRET},
                    "13": {"url": "http://127.0.0.1:9/13", "secret": "whsec_" + "B" * 32},
                }
            },
        }
    )
    assert after.changes_from(before) == {
        "delivery.webhooks.12.url": {
            "before": "http://u:***@127.0.0.1:9/",
            "after": "http://u:***@127.0.0.1:9/",
        },
        "delivery.webhooks.13.format": {"before": None, "after": "envelope"},
        "delivery.webhooks.13.secret": {"before": None, "after": "***"},
        "delivery.webhooks.13.url": {"before": None, "after": "http://127.0.0.1:9/13"},
        "window_minutes": {"before": 30, "after": 20},
    }


# -- JSON Merge Patch (RFC 7396) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [  # RFC 7396 appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_a_merge_patch_follows_rfc_7396(target: object, patch: object, result: object) -> None:
    assert merge_patch(target, patch) == result
