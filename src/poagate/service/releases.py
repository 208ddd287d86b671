"""The spec §9 guards in the service, where many processes decide and none holds everything.

The domain's ``Guards`` decides as in a replay, but a server restores into it only what one
decision needs, inside the transaction that decides (writers are serialised, so what it reads
is everything decided before):

* **area-outage**, per group of events (``restore_area``): the unreleased entries of the
  group's sectors within ``EVIDENCE_REACH`` spans of its AD1s, which a forwarded AD1 may
  release; and for each of those and each AD1 of the group that may fall in a window, at most
  ``area_outage_threshold`` of the AD1s near it that reached their DNO — enough to tell whether
  it has its evidence, however many a storm brings. Each AD1 is stored with its sector
  (``ad1_outcomes.sector``) while area-outage is on, and partial indexes keep both reads short.
* **release-if-dark**, by a periodic pass (``release_dark``) that each server process runs in
  turn with its groups: the unreleased entries whose ``event_at`` is at least M minutes and
  ``SIGN_GRACE`` ago are read with their hubs' signs of life, and those the domain's rule
  (``guards.lights``, the one the replay asks too) finds dark are released now. A release is
  forwarded, so it may be the area-outage evidence that releases others of its sector: the
  pass follows that too. How far it has looked is kept in ``meta``
  (``WATERMARK``, a ``seq``), so each pass reads only entries not yet settled.

Each runs in one unit of work (``DecisionPath.deciding``), which writes its releases when it
ends. A released entry takes the next place in its DNO's forwarded feed (``feed_seq``), and its
original message, held in the outbox since it was suppressed (status ``held``), becomes due
for its DNO's webhook.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from poagate.domain.guards import Guards
from poagate.domain.outcomes import NO_SIGN_OF_LIFE, SuppressionEntry
from poagate.domain.reference import Config, Inventory
from poagate.store.alerts.decided import EvidencePoint
from poagate.store.ports import AreaReads, DecisionPath, GuardUnit, Watermarks

# How long after a sign of life's received_at stamp it may still be committing in another
# process (stamped at receipt, committed with its group): a release waits this much more.
SIGN_GRACE = timedelta(seconds=30)
# How many spans (area_outage_seconds) around an AD1 its sector's history is read: one for its
# own evidence, one more for the evidence of the entries it may release.
EVIDENCE_REACH = 2
WATERMARK = "release_if_dark_seq"


def deciding_config(config: Config) -> Config:
    """The configuration a group decides with: release-if-dark and the verification guard
    (spec §14) are periodic passes' (``release_dark``, ``service.verifications``)."""
    if config.release_after_minutes is None and config.verify_after_minutes is None:
        return config
    return replace(config, release_after_minutes=None, verify_after_minutes=None)


def holds(config: Config) -> bool:
    """Whether a suppressed AD1 may still be released, so its message is kept (``held``) for
    a DNO with a webhook: always, since an operator may release any entry (spec §12), guards
    on or off (docs/decisions.md, "Incident controls")."""
    return True


def restore_area(
    store: AreaReads,
    guards: Guards,
    points: Iterable[tuple[str | None, str, datetime]],
    around: Iterable[tuple[str | None, datetime]],
    skip: Collection[str] = (),
) -> None:
    """Give ``guards`` what area-outage needs (none of ``skip``): the unreleased entries of
    each sector within ``EVIDENCE_REACH`` spans of the times ``around`` it, which a forwarded
    AD1 may release; and, for each of those and each of ``points`` (sector, chf_id, event_at:
    the AD1s that may be suppressed), enough of the AD1s that reached their DNO to tell
    whether it has its evidence."""
    enough = guards.area_threshold
    if enough is None:
        return
    span = guards.area_span
    near = [(sector, at) for sector, at in around if sector is not None]
    waiting: list[tuple[str, SuppressionEntry]] = []
    if near:
        # One read for every sector, from the earliest time to the latest (a group spans
        # seconds): more entries than the reach asks for only ever makes the rule more exact.
        reach = span * EVIDENCE_REACH
        found = store.waiting_entries(
            sorted({sector for sector, _ in near}),
            min(at for _, at in near) - reach,
            max(at for _, at in near) + reach,
        )
        waiting = [(sector, e) for sector, e in found if e.alert_id not in skip]
    asked = [EvidencePoint(sector, chf, at) for sector, chf, at in points if sector is not None]
    asked += [EvidencePoint(sector, e.chf_id, e.event_at) for sector, e in waiting]
    evidence = store.area_evidence(asked, span, enough)
    for sector, outcome in (*evidence, *waiting):
        guards.place(outcome.chf_id, sector)
    guards.restore((), (o for _, o in evidence if o.alert_id not in skip))
    guards.restore((), (e for _, e in waiting))


def arm_release_if_dark(store: DecisionPath) -> None:
    """Release-if-dark watches entries decided from now on (in the caller's transaction, if
    any): called when it is switched on, so that switching it on never releases the history."""
    with store.deciding() as unit:
        arm(unit, WATERMARK)


def arm(unit: Watermarks, watermark: str) -> None:
    """A periodic pass looks at the entries decided after now (``watermark``, a seq)."""
    unit.set_meta(watermark, str(unit.last_seq()))


def release_dark(store: DecisionPath, now: datetime) -> list[SuppressionEntry]:
    """One release-if-dark pass at ``now`` (see the module docstring): the entries released,
    with those area-outage released as a consequence; all recorded before it returns."""
    if store.reference.config().release_after_minutes is None:
        return []  # off: not even the writer lock
    with store.deciding() as unit:
        config = unit.config()  # again, under the lock: it may have changed
        if config.release_after_minutes is None:
            return []
        watermark = unit.meta(WATERMARK)
        if watermark is None:
            arm(unit, WATERMARK)  # switched on outside the service (a replay's config)
            return []
        after = int(watermark)
        until = now - timedelta(minutes=config.release_after_minutes) - SIGN_GRACE
        dark = dark_entries(unit, config, after, until)
        released = [
            replace(entry, released_at=now, release_reason=NO_SIGN_OF_LIFE) for _, entry in dark
        ]
        released += area_consequences(
            unit, config, [(sector, e) for (sector, _), e in zip(dark, released, strict=True)], now
        )
        unit.release(released, now)
        unit.set_meta(WATERMARK, str(unit.settled_seq(after, until)))
    return released


def area_consequences(
    store: AreaReads,
    config: Config,
    released: list[tuple[str | None, SuppressionEntry]],
    now: datetime,
) -> list[SuppressionEntry]:
    """With area-outage on, the entries that the (sector, entry) releases made by a pass at
    ``now`` release in turn: a release is forwarded, so it is evidence for its sector."""
    if not released or config.area_outage_threshold is None:
        return []
    guards = Guards(deciding_config(config), Inventory(()))
    for sector, entry in released:
        guards.place(entry.chf_id, sector)
    restore_area(
        store,
        guards,
        (),
        [(sector, entry.event_at) for sector, entry in released],
        skip={entry.alert_id for _, entry in released},
    )
    for _, entry in released:
        guards.forwarded(entry.chf_id, entry.event_at, now)
    return guards.due(now)


def dark_entries(
    unit: GuardUnit, config: Config, after_seq: int, until: datetime
) -> list[tuple[str | None, SuppressionEntry]]:
    """(sector, entry) of the unreleased entries after ``after_seq`` with ``event_at`` at or
    before ``until`` whose site no sign of life lights: the store hands over the entries and
    their hubs' signs, the domain's ``Guards`` judges (as in a replay)."""
    assert config.release_after_minutes is not None
    candidates = unit.unreleased_due(after_seq, until)
    if not candidates:
        return []
    span = timedelta(minutes=config.release_after_minutes)
    guards = Guards(Config(release_after_minutes=config.release_after_minutes), Inventory(()))
    signs = unit.hub_signs(
        sorted({e.chf_id for _, _, e in candidates}),
        min(e.event_at for _, _, e in candidates),
        max(e.event_at for _, _, e in candidates) + span,
    )
    for chf_id, at in signs:
        guards.hub_sign(chf_id, at)
    return [(sector, entry) for _, sector, entry in candidates if not guards.lit(entry)]
