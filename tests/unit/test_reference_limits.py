"""spec §17: the limits a reference load is judged by — at the limit it goes in, past it (or
empty) it is refused unless forced, and the refusal says the figures."""

from __future__ import annotations

import pytest

from poagate.domain.safety import (
    Judgement,
    LoadRefused,
    ReferenceLimits,
    enforce,
    judge_rejected,
    judge_shrink,
)
from poagate.formats.settings import Settings

LIMITS = ReferenceLimits()


def judged(rows: int, rejected: int, in_force: int, after: int) -> Judgement:
    judgement = Judgement()
    judge_rejected(LIMITS, judgement, rows, rejected)
    judge_shrink(LIMITS, judgement, "devices", in_force, after)
    return judgement


def test_exactly_at_the_limits_a_load_goes_in() -> None:
    assert judged(1000, 10, 1000, 900).reasons == []  # 1% rejected, 90% left
    assert judged(0, 0, 0, 5).reasons == []  # a first load into an empty store


def test_past_either_limit_or_empty_a_load_is_refused_with_its_figures() -> None:
    over = judged(1000, 11, 1000, 899)
    assert len(over.reasons) == 2
    with pytest.raises(LoadRefused) as refused:
        enforce(LIMITS, "inventory", over)
    text = str(refused.value)
    assert "11 of its 1,000 rows were rejected (1.10%)" in text
    assert "leave 899 of the 1,000 devices in force (89.90%)" in text
    assert over.figures["devices_after"] == 899
    assert judged(0, 0, 0, 0).reasons == ["it holds no devices (0 in force)"]


def test_force_goes_past_the_limits_and_keeps_the_reasons() -> None:
    over = judged(10, 10, 100, 0)
    enforce(ReferenceLimits(force=True), "inventory", over)
    assert len(over.reasons) == 2


def test_the_stored_configuration_holds_the_limits_with_their_defaults() -> None:
    reference = Settings.stored({}).reference
    assert (reference.max_rejected_share, reference.max_shrink) == (0.01, 0.90)
    assert reference.kept_inventory_versions == 2
    with pytest.raises(ValueError, match="max_shrink"):
        Settings.model_validate({"reference": {"max_shrink": 1.5}})
