"""The verification guard of spec §14, beyond MP102B; off unless ``verify_after_minutes`` is set.

V minutes after a suppressed AD1's ``event_at`` (by then a rebooting meter is back) poagate asks
the DSP to verify the site; any message from the ESME or its hub answers. With no answer T
minutes after an attempt it tries again, up to A attempts; after the last the AD1 is released
(``release_reason = no_answer_to_verification``).

``VerificationPlan`` is the one statement of the rule; the replay's in-memory ``Verifier`` and
the service's verification pass (``poagate.service.verifications``) both ask it:

* the first request is due at ``base = max(event_at + V, decided_at)``: an AD1 that reaches the
  gate after ``event_at + V`` (delivered late) is verified at once;
* attempt k runs from ``base + (k-1)·T`` to its deadline ``base + k·T``; the next attempt starts
  at the deadline of the one before, so there is no gap between attempts, and the AD1 is
  released at the last deadline, ``base + A·T``;
* a sign of life at ``s`` settles the verification when ``event_at + V < s <= base + A·T``:
  before the first request it settles it without one (spec §14), during an attempt it answers
  that attempt; one after the last deadline is too late. A sign exactly at ``event_at + V`` is
  not "after" it; one exactly at a deadline is in time.

The deadlines run from the AD1, not from when a request happened to be sent: a server that
falls behind gives the DSP less time, never a DNO a later alert, and the replay and the service
reach the same outcome whatever the service's timing (docs/decisions.md).

An entry released by anything else (another guard, an operator) is not verified further: its
open request is ``withdrawn``.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from poagate.domain.outcomes import NO_ANSWER_TO_VERIFICATION, SuppressionEntry
from poagate.domain.reference import Config
from poagate.domain.values import value


class VerificationOutcome(StrEnum):
    PENDING = "pending"  # asked, not yet answered and before its deadline
    ANSWERED = "answered"  # a sign of life from the site came in time
    EXPIRED = "expired"  # no answer by the deadline; another attempt follows
    NO_ANSWER = "no_answer"  # the last attempt expired: the AD1 was released
    WITHDRAWN = "withdrawn"  # the entry was released otherwise before an answer


@value
class VerificationRequest:
    """One attempt to verify a suppressed AD1's site: what the DSP is asked, and how it ended."""

    alert_id: str
    chf_id: str
    esme_id: str
    attempt: int  # 1 .. A
    requested_at: datetime
    deadline: datetime
    settled_at: datetime | None = None
    outcome: VerificationOutcome = VerificationOutcome.PENDING


@value
class VerificationPlan:
    """V, T and A, and the rule in terms of them (see the module docstring)."""

    after: timedelta  # V
    timeout: timedelta  # T
    attempts: int  # A

    @staticmethod
    def of(config: Config) -> VerificationPlan | None:
        """The plan ``config`` sets, or None when the guard is off."""
        if config.verify_after_minutes is None:
            return None
        return VerificationPlan(
            timedelta(minutes=config.verify_after_minutes),
            timedelta(minutes=config.verify_timeout_minutes),
            config.verify_attempts,
        )

    def first_request(self, event_at: datetime, decided_at: datetime) -> datetime:
        """When the first request is due for an AD1 with ``event_at`` decided at
        ``decided_at`` (the simulator asks this too, to answer as a DSP would)."""
        return max(event_at + self.after, decided_at)

    def base(self, entry: SuppressionEntry) -> datetime:
        """When the first request is due for ``entry``."""
        return self.first_request(entry.event_at, entry.decided_at)

    def request_at(self, entry: SuppressionEntry, attempt: int) -> datetime:
        return self.base(entry) + self.timeout * (attempt - 1)

    def deadline(self, entry: SuppressionEntry, attempt: int) -> datetime:
        return self.base(entry) + self.timeout * attempt

    def release_at(self, entry: SuppressionEntry) -> datetime:
        """The last deadline: with no answer by then the AD1 is released."""
        return self.deadline(entry, self.attempts)

    def settles(self, sign_at: datetime, entry: SuppressionEntry) -> bool:
        """Whether a sign of life at ``sign_at`` settles ``entry``'s verification."""
        return entry.event_at + self.after < sign_at <= self.release_at(entry)

    def attempt_at(self, entry: SuppressionEntry, now: datetime) -> int:
        """The attempt under way at ``now`` (0 before the first request; A at and after the
        last deadline)."""
        base = self.base(entry)
        if now < base:
            return 0
        return min(self.attempts, (now - base) // self.timeout + 1)

    def request(self, entry: SuppressionEntry, attempt: int, at: datetime) -> VerificationRequest:
        """Attempt ``attempt`` of ``entry``'s verification, sent at ``at``."""
        return VerificationRequest(
            entry.alert_id,
            entry.chf_id,
            entry.esme_id,
            attempt,
            at,
            self.deadline(entry, attempt),
        )

    def released(self, entry: SuppressionEntry) -> SuppressionEntry:
        """``entry`` released for want of an answer, at its last deadline."""
        return replace(
            entry, released_at=self.release_at(entry), release_reason=NO_ANSWER_TO_VERIFICATION
        )


@dataclass(slots=True)
class _Open:
    """A verification under way in a replay: its entry and its latest request, if any."""

    entry: SuppressionEntry
    request: VerificationRequest | None = None


class Verifier:
    """The verification guard's state in a replay: the verifications under way, by alert, each
    with a timer for its next request or deadline. It never reads the clock: the caller
    (``Guards.due``) fires the timers whose time has come by its clock (``next_due``,
    ``fire``). Every request and every change to one is collected for the store
    (``take_requests``); the releases are handed to the caller.
    """

    __slots__ = ("_by_chf", "_open", "_requests", "_timers", "plan")

    def __init__(self, plan: VerificationPlan) -> None:
        self.plan = plan
        self._open: dict[str, _Open] = {}
        self._by_chf: dict[str, list[str]] = {}
        self._timers: list[tuple[datetime, str]] = []
        self._requests: list[VerificationRequest] = []

    def watch(self, entry: SuppressionEntry, first_sign: datetime | None) -> None:
        """A suppressed, unreleased entry: verify it, unless ``first_sign`` — the first sign of
        life known from its site after ``event_at + V`` — already settles it."""
        if first_sign is not None and self.plan.settles(first_sign, entry):
            return
        self._open[entry.alert_id] = _Open(entry)
        self._by_chf.setdefault(entry.chf_id, []).append(entry.alert_id)
        heapq.heappush(self._timers, (self.plan.base(entry), entry.alert_id))

    def sign(self, chf_id: str, at: datetime) -> None:
        """A sign of life from the site of ``chf_id`` at ``at``: it answers the verifications of
        that hub it settles (spec §14)."""
        waiting = self._by_chf.get(chf_id)
        if not waiting:
            return
        still = []
        for alert_id in waiting:
            current = self._open.get(alert_id)
            if current is None:
                continue
            if self.plan.settles(at, current.entry):
                del self._open[alert_id]
                if current.request is not None:  # else settled before any request was sent
                    self._settle(current.request, at, VerificationOutcome.ANSWERED)
            else:
                still.append(alert_id)
        if still:
            self._by_chf[chf_id] = still
        else:
            del self._by_chf[chf_id]

    def withdraw(self, alert_id: str, at: datetime) -> None:
        """The entry was released otherwise: stop verifying it."""
        current = self._open.pop(alert_id, None)
        if current is not None and current.request is not None:
            self._settle(current.request, at, VerificationOutcome.WITHDRAWN)

    def next_due(self) -> datetime | None:
        """When the next request or deadline falls (None when nothing is under way)."""
        while self._timers and self._timers[0][1] not in self._open:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def fire(self) -> tuple[str, SuppressionEntry | None]:
        """The next timer (``next_due``) fires: its alert sends its next attempt, or, after the
        last, is released (the entry returned)."""
        _, alert_id = heapq.heappop(self._timers)
        current = self._open[alert_id]
        plan, entry, request = self.plan, current.entry, current.request
        if request is not None:
            last = request.attempt == plan.attempts
            outcome = VerificationOutcome.NO_ANSWER if last else VerificationOutcome.EXPIRED
            self._settle(request, request.deadline, outcome)
            if last:
                del self._open[alert_id]
                return alert_id, plan.released(entry)
        attempt = 1 if request is None else request.attempt + 1
        current.request = plan.request(entry, attempt, plan.request_at(entry, attempt))
        self._requests.append(current.request)
        heapq.heappush(self._timers, (current.request.deadline, alert_id))
        return alert_id, None

    def _settle(
        self, request: VerificationRequest, at: datetime, outcome: VerificationOutcome
    ) -> None:
        self._requests.append(replace(request, settled_at=at, outcome=outcome))

    def take_requests(self) -> list[VerificationRequest]:
        """Every request sent and every request settled since last asked, in order (a request
        settled appears twice: sent, then settled)."""
        taken, self._requests = self._requests, []
        return taken
