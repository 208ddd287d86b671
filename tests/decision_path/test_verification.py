"""The verification guard's pass in the service (spec §14): attempts issued, answered,
expired, released and withdrawn as ``domain/verification.py`` says, each once."""

from __future__ import annotations

from dataclasses import replace

from poagate.domain.outcomes import OPERATOR, SuppressionEntry
from poagate.domain.verification import VerificationOutcome, VerificationRequest
from poagate.service.verifications import arm_verification, verify
from tests.decision_path.conftest import ESME_0, Backend, activation, ad1, chf_of, message
from tests.helpers import ts

PENDING = VerificationOutcome.PENDING


def guarded_entry(backend: Backend, decided: str = "2026-03-01T10:06:00Z") -> SuppressionEntry:
    """The guard on (V 10, T 3, A 2) and an AD1 of site 0, outage at 10:05, suppressed at
    ``decided``: its first request is due at 10:15, the second at 10:18, its release at 10:21
    (and ``SIGN_GRACE``)."""
    backend.configure(verify_after_minutes=10, verify_timeout_minutes=3, verify_attempts=2)
    arm_verification(backend.store)
    backend.decide(activation(0, "2026-03-01T10:00:00Z"), at="2026-03-01T10:00:00Z")
    (entry,) = backend.decide(ad1("A0", 0, "2026-03-01T10:05:00Z", received=decided), at=decided)
    assert type(entry) is SuppressionEntry
    return entry


def request(attempt: int, at: str, deadline: str, **ended: object) -> VerificationRequest:
    return VerificationRequest(
        "A0",
        chf_of(0),
        ESME_0,
        attempt,
        ts(at),
        ts(deadline),
        **ended,  # type: ignore[arg-type]
    )


def test_the_first_attempt_is_asked_when_it_is_due_and_only_once(backend: Backend) -> None:
    guarded_entry(backend)
    assert verify(backend.store, ts("2026-03-01T10:14:59Z")).requested == []
    done = verify(backend.store, ts("2026-03-01T10:15:10Z"))
    first = request(1, "2026-03-01T10:15:10Z", "2026-03-01T10:18:00Z")
    assert done.requested == [first]
    assert verify(backend.store, ts("2026-03-01T10:16:00Z")).requested == []
    assert backend.seen.requests() == [first]


def test_no_answer_expires_each_attempt_and_the_last_releases_the_entry(
    backend: Backend,
) -> None:
    guarded_entry(backend)
    verify(backend.store, ts("2026-03-01T10:15:10Z"))
    second = verify(backend.store, ts("2026-03-01T10:18:05Z"))
    assert (second.expired, [r.attempt for r in second.requested]) == (1, [2])
    # Released at the last deadline and SIGN_GRACE, not before.
    assert verify(backend.store, ts("2026-03-01T10:21:29Z")).released == []
    done = verify(backend.store, ts("2026-03-01T10:21:31Z"))
    (released,) = done.released
    assert released.release_reason == "no_answer_to_verification"
    assert released.released_at == ts("2026-03-01T10:21:31Z")
    assert backend.seen.entry("A0") == released
    assert backend.seen.message("A0") == ("pending", ts("2026-03-01T10:21:31Z"))
    assert backend.seen.feed() == ["A0"]
    assert backend.seen.requests() == [
        request(
            1,
            "2026-03-01T10:15:10Z",
            "2026-03-01T10:18:00Z",
            settled_at=ts("2026-03-01T10:18:00Z"),
            outcome=VerificationOutcome.EXPIRED,
        ),
        request(
            2,
            "2026-03-01T10:18:05Z",
            "2026-03-01T10:21:00Z",
            settled_at=ts("2026-03-01T10:21:00Z"),
            outcome=VerificationOutcome.NO_ANSWER,
        ),
    ]
    assert verify(backend.store, ts("2026-03-01T10:30:00Z")).released == []


def test_a_sign_of_life_answers_the_open_attempt_and_nothing_is_released(
    backend: Backend,
) -> None:
    guarded_entry(backend)
    verify(backend.store, ts("2026-03-01T10:15:10Z"))
    backend.decide(message(0, "2026-03-01T10:16:00Z"), at="2026-03-01T10:16:00Z")
    done = verify(backend.store, ts("2026-03-01T10:16:30Z"))
    assert (done.answered, done.requested, done.released) == (1, [], [])
    assert [(r.attempt, r.outcome, r.settled_at) for r in backend.seen.requests()] == [
        (1, VerificationOutcome.ANSWERED, ts("2026-03-01T10:16:00Z"))
    ]
    assert verify(backend.store, ts("2026-03-01T10:30:00Z")).released == []
    entry = backend.seen.entry("A0")
    assert type(entry) is SuppressionEntry
    assert entry.released_at is None
    assert backend.seen.message("A0") == ("held", ts("2026-03-01T10:06:00Z"))


def test_an_attempt_of_an_entry_released_otherwise_is_withdrawn(backend: Backend) -> None:
    entry = guarded_entry(backend)
    verify(backend.store, ts("2026-03-01T10:15:10Z"))
    # An operator releases it meanwhile (as ``service.controls.release`` does).
    at = ts("2026-03-01T10:16:00Z")
    with backend.store.deciding() as unit:
        unit.release([replace(entry, released_at=at, release_reason=OPERATOR)], at)
    done = verify(backend.store, ts("2026-03-01T10:17:00Z"))
    assert (done.withdrawn, done.requested, done.released) == (1, [], [])
    assert [(r.outcome, r.settled_at) for r in backend.seen.requests()] == [
        (VerificationOutcome.WITHDRAWN, ts("2026-03-01T10:17:00Z"))
    ]


def test_an_ad1_decided_late_is_asked_about_at_once(backend: Backend) -> None:
    # Its outage at 10:05 but decided at 11:00, long after event_at + V: the first request
    # is due at its decision, not before (a pass that read its clock earlier asks nothing).
    guarded_entry(backend, decided="2026-03-01T11:00:00Z")
    assert verify(backend.store, ts("2026-03-01T10:59:59Z")).requested == []
    done = verify(backend.store, ts("2026-03-01T11:00:01Z"))
    assert [(r.attempt, r.outcome) for r in done.requested] == [(1, PENDING)]
    assert [(r.attempt, r.outcome) for r in backend.seen.requests()] == [(1, PENDING)]
