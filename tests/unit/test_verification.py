"""spec §14: the verification guard, every edge, against the gate with exact timestamps.

The plan under test: V = 10, T = 3, A = 2. An AD1 with event_at 10:02, suppressed at 10:05 in
the window opened at 10:00, is asked about at 10:12 (attempt 1, deadline 10:15) and 10:15
(attempt 2, deadline 10:18), and released at 10:18 unless its site spoke in (10:12, 10:18].
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from poagate.domain.gate import Gate
from poagate.domain.outcomes import (
    AREA_OUTAGE_EVIDENCE,
    NO_ANSWER_TO_VERIFICATION,
    SuppressionEntry,
)
from poagate.domain.reference import Config
from poagate.domain.verification import VerificationOutcome, VerificationPlan
from tests.helpers import CHF, ESME, activation, ad1, esme, gate, hub, message, outcome, ts

E = "2026-03-01T10:02:00Z"
END = ts("2026-03-02T00:00:00Z")
PENDING, ANSWERED, EXPIRED, NO_ANSWER, WITHDRAWN = (
    VerificationOutcome.PENDING,
    VerificationOutcome.ANSWERED,
    VerificationOutcome.EXPIRED,
    VerificationOutcome.NO_ANSWER,
    VerificationOutcome.WITHDRAWN,
)


def verifying(*devices: object, **more: int | None) -> Gate:
    settings = {"verify_after_minutes": 10, "verify_timeout_minutes": 3, "verify_attempts": 2}
    settings.update(more)
    return gate(*devices, config=Config(**settings))  # type: ignore[arg-type]


def suppress(
    g: Gate, alert_id: str = "A1", received: str = "2026-03-01T10:05:00Z", event: str = E
) -> SuppressionEntry:
    if g.activation(f"90-B3-D5-1F-30-01-00-00:{ESME}:1000") is None:
        g.activate(activation("2026-03-01T10:00:00Z"))
    entry = g.decide_ad1(ad1(alert_id, received, event), ts(received))
    assert type(entry) is SuppressionEntry
    return entry


def run_to(g: Gate, until: str, *signs: tuple[str, str]) -> list[SuppressionEntry]:
    """Move the clock to ``until`` as a replay does, reading each sign (time, device) on the
    way; the releases made."""
    released: list[SuppressionEntry] = []
    for at, device in signs:
        released += g.releases_due(ts(at), inclusive=False)
        g.apply(message(at, device), ts(at))
    released += g.releases_due(ts(until))
    return released


def requests(g: Gate) -> list[tuple[str, int, str, str | None, VerificationOutcome]]:
    return [
        (
            r.alert_id,
            r.attempt,
            r.requested_at.strftime("%H:%M:%S"),
            None if r.settled_at is None else r.settled_at.strftime("%H:%M:%S"),
            r.outcome,
        )
        for r in g.verification_requests()
    ]


def test_the_verification_guard_is_off_by_default() -> None:
    g = gate()
    suppress(g)
    assert g.releases_due(END) == []
    assert g.verification_requests() == []
    assert VerificationPlan.of(Config()) is None


def test_without_an_answer_every_attempt_is_made_and_the_ad1_released_at_the_last_deadline() -> (
    None
):
    g = verifying()
    suppress(g)
    assert run_to(g, "2026-03-01T10:11:59Z") == []
    assert requests(g) == []  # nothing is asked before event_at + V
    [released] = run_to(g, "2026-03-01T10:18:00Z")
    assert released.released_at == ts("2026-03-01T10:18:00Z")
    assert released.release_reason == NO_ANSWER_TO_VERIFICATION
    assert released.window_start == ts("2026-03-01T10:00:00Z")  # the entry as it was
    assert requests(g) == [
        ("A1", 1, "10:12:00", None, PENDING),
        ("A1", 1, "10:12:00", "10:15:00", EXPIRED),
        ("A1", 2, "10:15:00", None, PENDING),
        ("A1", 2, "10:15:00", "10:18:00", NO_ANSWER),
    ]
    assert g.releases_due(END) == []  # released once


def test_an_answer_during_the_first_attempt_settles_it() -> None:
    g = verifying()
    suppress(g)
    assert run_to(g, "2026-03-02T00:00:00Z", ("2026-03-01T10:13:30Z", ESME)) == []
    assert requests(g) == [
        ("A1", 1, "10:12:00", None, PENDING),
        ("A1", 1, "10:12:00", "10:13:30", ANSWERED),
    ]


def test_an_answer_after_the_first_deadline_answers_the_second_attempt() -> None:
    g = verifying()
    suppress(g)
    assert run_to(g, "2026-03-02T00:00:00Z", ("2026-03-01T10:16:00Z", ESME)) == []
    assert requests(g)[-1] == ("A1", 2, "10:15:00", "10:16:00", ANSWERED)


@pytest.mark.parametrize(
    ("sign", "released"),
    [
        ("2026-03-01T10:05:30Z", True),  # after event_at but before event_at + V: no answer
        ("2026-03-01T10:12:00Z", True),  # exactly event_at + V: not after it
        ("2026-03-01T10:12:01Z", False),  # just after: answers attempt 1
        ("2026-03-01T10:15:00Z", False),  # exactly the first deadline: in time for attempt 1
        ("2026-03-01T10:18:00Z", False),  # exactly the last deadline: in time
        ("2026-03-01T10:18:01Z", True),  # after the last: too late
    ],
)
def test_the_edges_of_an_answer(sign: str, released: bool) -> None:
    g = verifying()
    suppress(g)
    late = run_to(g, "2026-03-02T00:00:00Z", (sign, ESME))
    assert len(late) == (1 if released else 0)


def test_an_answer_before_the_request_settles_it_without_a_request() -> None:
    # The AD1 of 10:02 reaches the DSP at 10:20, after event_at + V; the site spoke at 10:14.
    g = verifying()
    g.activate(activation("2026-03-01T10:00:00Z"))
    g.apply(message("2026-03-01T10:14:00Z"), ts("2026-03-01T10:14:00Z"))
    suppress(g, received="2026-03-01T10:20:00Z")
    assert run_to(g, "2026-03-02T00:00:00Z") == []
    assert requests(g) == []


def test_an_ad1_delivered_after_event_at_plus_v_is_verified_at_once() -> None:
    g = verifying()
    suppress(g, received="2026-03-01T10:40:00Z")
    [released] = run_to(g, "2026-03-02T00:00:00Z")
    assert released.released_at == ts("2026-03-01T10:46:00Z")  # decided 10:40, + A·T
    assert requests(g)[0] == ("A1", 1, "10:40:00", None, PENDING)


def test_an_answer_from_the_hub_instead_of_the_esme_counts() -> None:
    g = verifying()
    suppress(g)
    assert run_to(g, "2026-03-02T00:00:00Z", ("2026-03-01T10:13:00Z", CHF)) == []


def test_an_activation_outcome_answers_too() -> None:
    g = verifying()
    suppress(g)
    g.releases_due(ts("2026-03-01T10:13:00Z"), inclusive=False)
    g.apply(outcome("2026-03-01T10:13:00Z", success=False), ts("2026-03-01T10:13:00Z"))
    assert g.releases_due(END) == []


def test_a_message_from_another_site_or_an_unknown_device_is_no_answer() -> None:
    other, other_hub = "00-DB-12-34-56-78-90-A1", "00-DB-12-34-56-78-90-C1"
    g = verifying(esme(), hub(), esme(other, chf_id=other_hub), hub(other_hub))
    suppress(g)
    released = run_to(
        g,
        "2026-03-02T00:00:00Z",
        ("2026-03-01T10:13:00Z", other),
        ("2026-03-01T10:14:00Z", "00-00-00-00-00-00-00-01"),
    )
    assert [e.alert_id for e in released] == ["A1"]


def test_two_ad1s_of_one_hub_in_one_window_are_verified_each() -> None:
    g = verifying()
    suppress(g, "A1", "2026-03-01T10:05:00Z", "2026-03-01T10:02:00Z")  # asked 10:12, 10:15
    suppress(g, "A2", "2026-03-01T10:08:00Z", "2026-03-01T10:05:00Z")  # asked 10:15, 10:18
    # At 10:19 A1's last deadline (10:18) has passed; A2's (10:21) has not.
    [released] = run_to(g, "2026-03-02T00:00:00Z", ("2026-03-01T10:19:00Z", ESME))
    assert released.alert_id == "A1"
    assert ("A2", 2, "10:18:00", "10:19:00", ANSWERED) in requests(g)


def test_one_answer_settles_both_ad1s_of_a_hub_it_falls_in() -> None:
    g = verifying()
    suppress(g, "A1", "2026-03-01T10:05:00Z", "2026-03-01T10:02:00Z")
    suppress(g, "A2", "2026-03-01T10:08:00Z", "2026-03-01T10:05:00Z")
    assert run_to(g, "2026-03-02T00:00:00Z", ("2026-03-01T10:16:00Z", ESME)) == []
    settled = {(r[0], r[1]): r[4] for r in requests(g) if r[4] is not PENDING}
    assert settled == {("A1", 1): EXPIRED, ("A1", 2): ANSWERED, ("A2", 1): ANSWERED}


def test_an_entry_released_otherwise_is_withdrawn_and_not_released_again() -> None:
    # Area-outage (threshold 1) releases A1 at 10:13 while its first request is open.
    b_esme, b_chf = "00-12-A3-00-00-00-00-0B", "00-15-7B-00-00-00-00-0B"
    g = verifying(
        esme(),
        hub(),
        esme(b_esme, b_chf, "SECURE", postcode="SW1A 1BB"),
        hub(b_chf),
        area_outage_threshold=1,
    )
    suppress(g)
    g.releases_due(ts("2026-03-01T10:13:00Z"))
    forwarded = g.decide_ad1(
        ad1("B1", "2026-03-01T10:13:00Z", "2026-03-01T10:10:00Z", chf=b_chf),
        ts("2026-03-01T10:13:00Z"),
    )
    assert type(forwarded) is not SuppressionEntry
    [released] = g.releases_due(ts("2026-03-01T10:13:00Z"))
    assert released.release_reason == AREA_OUTAGE_EVIDENCE
    assert g.releases_due(END) == []  # no second release for want of an answer
    assert requests(g) == [
        ("A1", 1, "10:12:00", None, PENDING),
        ("A1", 1, "10:12:00", "10:13:00", WITHDRAWN),
    ]


def test_a_release_for_want_of_an_answer_is_area_outage_evidence() -> None:
    a2, c2 = "00-DB-12-34-56-78-90-A1", "00-DB-12-34-56-78-90-C1"
    g = verifying(
        esme(), hub(), esme(a2, c2, postcode="SW1A 1ZZ"), hub(c2), area_outage_threshold=1
    )
    g.activate(activation("2026-03-01T10:00:00Z", device=a2, counter=7))
    suppress(g)  # released at 10:18
    late = ad1("A2", "2026-03-01T10:09:00Z", "2026-03-01T10:06:00Z", chf=c2)
    assert type(g.decide_ad1(late, ts("2026-03-01T10:09:00Z"))) is SuppressionEntry
    released = g.releases_due(ts("2026-03-01T10:18:00Z"))
    assert [(e.alert_id, e.release_reason) for e in released] == [
        ("A1", NO_ANSWER_TO_VERIFICATION),
        ("A2", AREA_OUTAGE_EVIDENCE),
    ]


def test_restored_from_the_store_between_request_and_answer_it_ends_the_same() -> None:
    # A restart between the request (10:12) and the answer (10:16): the entry and the signs
    # known so far are all a restored gate has.
    g = verifying()
    entry = suppress(g)
    run_to(g, "2026-03-01T10:14:00Z")
    restored = verifying()
    restored.guards.restore([(ESME, ts("2026-03-01T10:06:00Z"))], [entry])
    assert run_to(restored, "2026-03-02T00:00:00Z", ("2026-03-01T10:16:00Z", ESME)) == []
    assert requests(restored)[-1] == ("A1", 2, "10:15:00", "10:16:00", ANSWERED)
    silent = verifying()
    silent.guards.restore([], [entry])
    assert [e.alert_id for e in run_to(silent, "2026-03-02T00:00:00Z")] == ["A1"]


def test_the_plan_says_which_attempt_is_under_way() -> None:
    plan = VerificationPlan(timedelta(minutes=10), timedelta(minutes=3), 2)
    entry = suppress(verifying())
    assert plan.attempt_at(entry, ts("2026-03-01T10:11:59Z")) == 0
    assert plan.attempt_at(entry, ts("2026-03-01T10:12:00Z")) == 1
    assert plan.attempt_at(entry, ts("2026-03-01T10:15:00Z")) == 2
    assert plan.attempt_at(entry, ts("2026-03-01T11:00:00Z")) == 2
    assert plan.release_at(entry) == ts("2026-03-01T10:18:00Z")


@pytest.mark.parametrize(
    "settings",
    [{"verify_after_minutes": 0}, {"verify_timeout_minutes": 0}, {"verify_attempts": -1}],
)
def test_verification_settings_must_be_positive(settings: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        Config(**settings)  # type: ignore[arg-type]
