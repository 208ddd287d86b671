"""The retention rules (spec §15): the defaults, the least each guarded kind may be given the
guards in force, and the cut-offs a maintenance pass purges by."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from poagate.formats.settings import Retention, Settings
from poagate.service.retention import (
    RetentionError,
    check_retention,
    cutoffs,
    guards_reach,
    least_allowed,
)
from poagate.store.lifecycle import KINDS
from tests.helpers import ts


def test_the_defaults_are_the_specs() -> None:
    kept = Settings().retention
    assert kept.model_dump() == {
        "suppression_log_days": 730,
        "forwarded_days": 90,
        "activations_days": 400,
        "signs_of_life_hours": 48,
        "deliveries_days": 30,
        "inputs_days": 30,
        "audit_days": 2555,
        "reference_versions": 5,
    }


def test_the_guards_reach_adds_window_release_if_dark_and_every_verification_attempt() -> None:
    assert guards_reach(Settings()) == timedelta(minutes=30)
    guarded = Settings(
        release_after_minutes=120,
        verify_after_minutes=10,
        verify_timeout_minutes=4,
        verify_attempts=3,
    )
    assert guards_reach(guarded) == timedelta(minutes=30 + 120 + 10 + 3 * 4)
    assert least_allowed(guarded)["signs_of_life_hours"] == 3  # 172 minutes, rounded up


def test_a_retention_shorter_than_the_guards_need_is_refused_saying_the_least_allowed() -> None:
    check_retention(Settings(retention=Retention(signs_of_life_hours=1)))  # 30 minutes: fine
    short = Settings(release_after_minutes=1440, retention=Retention(signs_of_life_hours=24))
    with pytest.raises(RetentionError, match=r"signs_of_life_hours is 24.*least allowed is 25"):
        check_retention(short)
    long_window = Settings(release_after_minutes=525_600, retention=Retention(forwarded_days=90))
    with pytest.raises(RetentionError, match=r"forwarded_days is 90.*least allowed is 366"):
        check_retention(long_window)


def test_a_retention_of_zero_or_a_negative_is_refused_by_the_model() -> None:
    with pytest.raises(ValidationError):
        Retention(audit_days=0)
    with pytest.raises(ValidationError):
        Retention(reference_versions=-1)


def test_a_pass_purges_each_kind_by_its_own_age() -> None:
    now = ts("2028-01-01T00:00:00Z")
    cut = cutoffs(Settings(), now)
    assert set(cut.before) == set(KINDS)
    assert cut.before["suppression_log"] == now - timedelta(days=730)
    assert cut.before["signs_of_life"] == now - timedelta(hours=48)
    assert cut.guards_from == now - timedelta(minutes=30)
    assert cut.versions_kept == 5
