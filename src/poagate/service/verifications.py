"""The verification guard (spec §14) in the service: a pass that every server process runs in
turn with its groups, on the writer connection, in transactions of ``CHUNK`` entries in
decision order (``Verifying.step``; writers are serialised and each step reads what it judges
under the lock, so a request is issued once and a release made once, however many processes
run it). One transaction for a whole pass held the writers' lock 91 ms on average in a storm
(4,000 entries under way), and every group of every server waited behind it.

The rule is the domain's (``VerificationPlan``), as in a replay; the pass only reads what it
needs. At ``now`` it looks at the unreleased Suppression Log entries decided since the guard
was armed whose first request is due, with their hubs' signs of life and the requests already
made, and for each:

* a sign of life that settles it (``plan.settles``) ends it: its open request is ``answered``;
* past its last deadline (and ``SIGN_GRACE``, for a sign stamped in time but still committing
  in another process) with no such sign, it is released (``no_answer_to_verification``,
  as every release is) and its open request ends ``no_answer``;
* otherwise the attempt under way at ``now`` (``plan.attempt_at``) is requested unless it
  was, and an earlier open attempt ``expired``.

Deadlines run from the AD1, not from when the pass happened to run, so a server that falls
behind gives the DSP less time but never delays a release, and a server reaches the outcome a
replay reaches. Requests of entries released otherwise (another guard, an operator) are
``withdrawn``. How far every entry is settled is kept in ``meta`` (``WATERMARK``, a ``seq``),
so a pass reads only the entries of the last V + A·T minutes or so, and of those not the ones
whose request was answered: such an entry is settled for good (the sign that answered it is
kept, and a configuration changed since does not open it again). Judging them again at every
pass held the writers' lock ~100 ms a pass in a storm (docs/performance.md).

Every server runs the pass, and one pass a poll interval is all the guard needs: a pass that
finds another process's pass began less than ``skip_within`` before its own ``now``
(``LAST_BEGUN`` in ``meta``: when, and which process) does nothing more
(``VerificationPass.skipped``). The server gives half its poll interval, so two servers share
the work rather than each doing all of it, and a request or release is at most one and a half
intervals late, not one. A process never skips after its own pass, so one server passes every
interval as before; a pass whose ``LAST_BEGUN`` is after its ``now`` (another server's clock
ahead) is not skipped either. The record is read first without the writers' lock, so a pass
that skips takes no lock at all, and again under the lock by the first step, which writes it:
of two passes that both read an old record, the second to take the lock still skips.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from poagate.domain.outcomes import NO_ANSWER_TO_VERIFICATION, SuppressionEntry
from poagate.domain.verification import (
    VerificationOutcome,
    VerificationPlan,
    VerificationRequest,
)
from poagate.service.releases import SIGN_GRACE, area_consequences, arm
from poagate.store.ports import DecisionPath, GuardUnit, VerificationUnit

WATERMARK = "verification_seq"
# "<now> <process>" of the pass begun last, written by its first step (``Verifying``)
LAST_BEGUN = "verification_last_begun"


@dataclass(slots=True)
class VerificationPass:
    """What one pass did: the requests it sent, how many it found answered or expired, and the
    entries released (with those area-outage released as a consequence)."""

    requested: list[VerificationRequest] = field(default_factory=list)
    answered: int = 0
    expired: int = 0
    withdrawn: int = 0
    released: list[SuppressionEntry] = field(default_factory=list)
    skipped: bool = False  # another process's pass began less than ``skip_within`` before


def arm_verification(store: DecisionPath) -> None:
    """The guard verifies entries decided from now on (in the caller's transaction, if any):
    called when it is switched on, so that switching it on never asks about (or releases) the
    history."""
    with store.deciding() as unit:
        arm(unit, WATERMARK)


CHUNK = 200  # entries judged in one transaction: the writers' lock held ~20 ms at a time


def verify(
    store: DecisionPath,
    now: datetime,
    chunk: int = CHUNK,
    process: str | None = None,
    skip_within: timedelta | None = None,
) -> VerificationPass:
    """One verification pass at ``now`` (see the module docstring), ``chunk`` entries a
    transaction; all recorded before it returns. ``process``, ``skip_within``: ``Verifying``'s."""
    verifying = Verifying(lambda: now, process, skip_within)
    while not verifying.step(store, chunk):
        pass
    return verifying.done


class Verifying:
    """A pass under way, one transaction at a time (``step``): the server runs each step as
    its own job on the writer connection, so that its groups of decisions, queued meanwhile,
    are decided between them rather than after the whole pass."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        process: str | None = None,
        skip_within: timedelta | None = None,
    ) -> None:
        self._clock = clock  # read once, by the first step
        # Who runs it, and how recent another process's pass lets this one skip (the module's
        # docstring); with no ``process`` it never skips.
        self._process = process
        self._skip_within = skip_within
        self._now: datetime | None = None
        self.done = VerificationPass()
        self._cursor: int | None = None  # the last entry judged (its seq)
        self._unsettled: list[int] = []

    def step(self, store: DecisionPath, chunk: int = CHUNK) -> bool:
        """Judge the next ``chunk`` entries in one transaction; whether the pass is over (its
        last step also moves the watermark)."""
        if self._now is None:
            self._now = self._clock()
        now, done = self._now, self.done
        if self._cursor is None:
            if VerificationPlan.of(store.reference.config()) is None:
                return True  # off: not even the writer lock
            if self._another_passed(store.meta(LAST_BEGUN), now):
                done.skipped = True  # read without the lock; read again under it below
                return True
        with store.deciding() as unit:
            config = unit.config()  # again, under the lock: it may have changed
            plan = VerificationPlan.of(config)
            if plan is None:
                return True
            watermark = unit.meta(WATERMARK)
            if watermark is None:
                arm(unit, WATERMARK)  # switched on outside the service (a replay's config)
                return True
            after = int(watermark)
            changes: list[VerificationRequest] = []
            if self._cursor is None:
                if self._another_passed(unit.meta(LAST_BEGUN), now):
                    done.skipped = True
                    return True
                if self._process is not None:
                    unit.set_meta(LAST_BEGUN, f"{now.isoformat()} {self._process}")
                changes = _withdrawn(unit, now)
                done.withdrawn = len(changes)
                self._cursor = after
            # An entry whose request was answered is settled for good: the sign that answered
            # it is kept. Left out, a pass reads only the entries under way (and new ones), not
            # every entry since the oldest under way (measured: docs/performance.md).
            until = now - plan.after
            due = unit.unreleased_due(max(self._cursor, after), until, unanswered=True, limit=chunk)
            released: list[tuple[str | None, SuppressionEntry]] = []
            if due:
                self._cursor = due[-1][0]
                changes += _judge(unit, plan, due, now, done, released, self._unsettled)
            releases = [e for _, e in released]
            releases += area_consequences(unit, config, released, now)
            done.released += releases
            unit.save_verifications(changes)
            unit.release(releases, now)
            if len(due) < chunk:  # the last of them: how far every entry is settled
                unit.set_meta(WATERMARK, str(_settled(unit, after, until, self._unsettled)))
                return True
            return False

    def _another_passed(self, last: str | None, now: datetime) -> bool:
        """Whether ``last`` (``LAST_BEGUN``) says another process's pass began less than
        ``skip_within`` before ``now``."""
        if self._process is None or self._skip_within is None or not last:
            return False
        at, _, process = last.partition(" ")
        try:
            began = datetime.fromisoformat(at)
        except ValueError:
            return False  # not ours to judge: pass
        return process != self._process and timedelta(0) <= now - began < self._skip_within


def _judge(
    unit: VerificationUnit,
    plan: VerificationPlan,
    due: list[tuple[int, str | None, SuppressionEntry]],
    now: datetime,
    done: VerificationPass,
    released: list[tuple[str | None, SuppressionEntry]],
    unsettled: list[int],
) -> list[VerificationRequest]:
    """Each of ``due`` judged (``_step``): the requests to save; what it requested, answered
    and expired counted in ``done``, the entries to release added to ``released`` and the
    seqs of those still under way to ``unsettled``."""
    changes: list[VerificationRequest] = []
    signs = _signs(unit, plan, [e for _, _, e in due], now)
    asked = defaultdict(list)
    for request in unit.verifications_of(sorted({e.alert_id for _, _, e in due})):
        asked[request.alert_id].append(request)
    for seq, sector, entry in due:
        step = _step(plan, entry, signs.get(entry.chf_id, ()), asked[entry.alert_id], now)
        changes += step.changes
        done.requested += step.requested
        done.answered += step.answered
        done.expired += step.expired
        if step.release:
            released.append(
                (sector, replace(entry, released_at=now, release_reason=NO_ANSWER_TO_VERIFICATION))
            )
        elif not step.settled:
            unsettled.append(seq)
    return changes


@dataclass(slots=True)
class _Step:
    changes: list[VerificationRequest] = field(default_factory=list)
    requested: list[VerificationRequest] = field(default_factory=list)
    answered: int = 0
    expired: int = 0
    release: bool = False
    settled: bool = False


def _step(
    plan: VerificationPlan,
    entry: SuppressionEntry,
    signs: list[datetime] | tuple[()],
    asked: list[VerificationRequest],
    now: datetime,
) -> _Step:
    """What the pass does for one entry whose first request is due."""
    step = _Step()
    open_request = next((r for r in asked if r.outcome is VerificationOutcome.PENDING), None)
    answer = next((s for s in signs if s <= now and plan.settles(s, entry)), None)
    if answer is not None:
        step.settled = True
        if open_request is not None:
            step.answered = 1
            step.changes.append(_settle(open_request, answer, VerificationOutcome.ANSWERED))
        return step
    if now >= plan.release_at(entry) + SIGN_GRACE:
        step.settled = step.release = True
        if open_request is not None:
            step.changes.append(
                _settle(open_request, open_request.deadline, VerificationOutcome.NO_ANSWER)
            )
        return step
    attempt = plan.attempt_at(entry, now)
    if attempt == 0:
        # Not yet due: decided after this pass read its clock (another process decided it
        # while the pass waited for the writer lock). The next pass asks.
        return step
    if open_request is not None and open_request.attempt < attempt:
        step.expired = 1
        step.changes.append(
            _settle(open_request, open_request.deadline, VerificationOutcome.EXPIRED)
        )
    made = {r.attempt for r in asked}
    if attempt not in made and now < plan.deadline(entry, attempt):
        request = plan.request(entry, attempt, now)
        step.changes.append(request)
        step.requested.append(request)
    return step


def _settle(
    request: VerificationRequest, at: datetime, outcome: VerificationOutcome
) -> VerificationRequest:
    return replace(request, settled_at=at, outcome=outcome)


def _signs(
    unit: GuardUnit, plan: VerificationPlan, entries: list[SuppressionEntry], now: datetime
) -> dict[str, list[datetime]]:
    """Each hub's signs of life after the earliest ``event_at + V`` of ``entries``, in order."""
    found: dict[str, list[datetime]] = defaultdict(list)
    hubs = sorted({e.chf_id for e in entries})
    after = min(e.event_at for e in entries) + plan.after
    for chf_id, at in unit.hub_signs(hubs, after, now):
        found[chf_id].append(at)
    for signs in found.values():
        signs.sort()
    return found


def _withdrawn(unit: VerificationUnit, now: datetime) -> list[VerificationRequest]:
    """Open requests of entries released otherwise: withdrawn now."""
    return [_settle(r, now, VerificationOutcome.WITHDRAWN) for r in unit.pending_of_released()]


def _settled(unit: GuardUnit, after: int, until: datetime, unsettled: list[int]) -> int:
    """How far every entry is settled: before the first one whose first request is not yet
    due, or that is under way."""
    settled = unit.settled_seq(after, until)
    if unsettled:
        settled = min(settled, min(unsettled) - 1)
    return settled
