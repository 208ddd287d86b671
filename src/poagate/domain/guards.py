"""The two safety guards of spec §9, beyond MP102B; each is off unless configured.

* **release-if-dark** (``release_after_minutes`` = M): a suppressed AD1 whose site shows no sign
  of life — an ``activation_outcome`` or ``device_message`` from the ESME or its CHF received
  after the AD1's ``event_at`` and at most M minutes after it — is released at ``event_at + M``:
  forwarded late with ``release_reason = no_sign_of_life``. A meter bricked by its firmware, or
  a real outage during the window, still reaches the DNO.
* **area-outage** (``area_outage_threshold`` = N, ``area_outage_seconds`` = S): when at least N
  AD1s from other CHFs of the same postcode sector, whose ``event_at`` lies within S seconds of an
  AD1's ``event_at``, have been forwarded, that AD1 is forwarded instead of suppressed (reason
  ``area_outage_evidence``); one already suppressed is released with that reason.

``Guards`` keeps what the rules need — the forwarded AD1s and the unreleased suppressed entries
of each sector, the signs of life of each CHF, and the entries waiting for one — and nothing when
both guards are off. It never reads the clock: ``due(now)`` hands out the releases whose time has
come by the caller's clock (the event clock in a replay, the wall clock in the service).

With the spec §14 verification guard on, ``Guards`` also holds its ``Verifier``
(``poagate.domain.verification``): the signs of life it keeps answer verifications too, its
releases are handed out with the others in the order they fall due, and an entry released by
any guard is not verified further.

Choices where the specification (docs/spec.md) is silent (also in docs/decisions.md):

* "forwarded" counts every AD1 that reached its DNO: forwarded at once (for any reason) or
  released by either guard;
* a sign of life exactly at ``event_at`` is not "after" it; one exactly at ``event_at + M`` is
  in time;
* an entry released by one guard is not released again by the other;
* a suppressed AD1 whose release time has already passed when it is decided (it was delivered
  late) is released at its decision time.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from poagate.domain.outcomes import (
    AREA_OUTAGE_EVIDENCE,
    NO_SIGN_OF_LIFE,
    ForwardedAlert,
    SuppressionEntry,
)
from poagate.domain.reference import Config, DeviceType, Fleet
from poagate.domain.verification import VerificationPlan, Verifier

# How much history a sector keeps beyond the evidence span: AD1s may be delivered hours late.
_SECTOR_HISTORY = timedelta(hours=12)


def lights(sign_at: datetime, event_at: datetime, release_after: timedelta) -> bool:
    """release-if-dark's rule (spec §9): a sign of life at ``sign_at`` shows the site of an AD1
    with ``event_at`` had power when it is after ``event_at`` and at most ``release_after``
    after it. The replay and the service's release pass both ask this, and nothing else."""
    return event_at < sign_at <= event_at + release_after


def postcode_sector(postcode: str | None) -> str | None:
    """spec §9: upper-case with one space, without the last two characters (``SW1A 1AA`` →
    ``SW1A 1``); None when there is no usable postcode."""
    if not postcode:
        return None
    compact = "".join(postcode.split()).upper()
    if len(compact) < 5:
        return None
    return f"{compact[:-3]} {compact[-3]}"


class Guards:
    """The guards' state and rules; see the module docstring."""

    __slots__ = (
        "_dark_heap",
        "_forwarded_by_sector",
        "_inventory",
        "_pending",
        "_pending_by_chf",
        "_ready",
        "_sector_of_chf",
        "_signs",
        "_suppressed_by_sector",
        "area_span",
        "area_threshold",
        "release_after",
        "verifier",
    )

    def __init__(self, config: Config, inventory: Fleet) -> None:
        self.release_after = (
            None
            if config.release_after_minutes is None
            else timedelta(minutes=config.release_after_minutes)
        )
        self.area_threshold = config.area_outage_threshold
        self.area_span = timedelta(seconds=config.area_outage_seconds)
        self._inventory = inventory
        self._sector_of_chf: dict[str, str | None] = {}
        # area-outage: (event_at, chf_id) of forwarded AD1s, and unreleased suppressed entries.
        self._forwarded_by_sector: dict[str, list[tuple[datetime, str]]] = {}
        self._suppressed_by_sector: dict[str, dict[str, SuppressionEntry]] = {}
        # release-if-dark: entries waiting for a sign of life, by alert_id, and their due times.
        self._pending: dict[str, SuppressionEntry] = {}
        self._pending_by_chf: dict[str, list[str]] = {}
        self._dark_heap: list[tuple[datetime, str]] = []
        self._signs: dict[str, list[datetime]] = {}
        self._ready: list[SuppressionEntry] = []  # area-outage releases not yet handed out
        plan = VerificationPlan.of(config)
        self.verifier = None if plan is None else Verifier(plan)

    @property
    def active(self) -> bool:
        return (
            self.release_after is not None
            or self.area_threshold is not None
            or self.verifier is not None
        )

    @property
    def keeps_signs(self) -> bool:
        """Whether signs of life matter: release-if-dark and the verification guard wait for
        them, so device messages must be mapped to their hubs."""
        return self.release_after is not None or self.verifier is not None

    # -- what the gate tells the guards ---------------------------------------------------------

    def sector_of(self, chf_id: str) -> str | None:
        try:
            return self._sector_of_chf[chf_id]
        except KeyError:
            device = self._inventory.get(chf_id)
            sector = None if device is None else postcode_sector(device.postcode)
            if sector is None:
                esme = self._inventory.esme_for_chf(chf_id)
                sector = None if esme is None else postcode_sector(esme.postcode)
            self._sector_of_chf[chf_id] = sector
            return sector

    def place(self, chf_id: str, sector: str | None) -> None:
        """Tell the sector of a CHF whose devices are not in the inventory given (a server
        restores a sector's recent AD1s with the sector stored beside each); what the
        inventory says, once asked, is kept."""
        self._sector_of_chf.setdefault(chf_id, sector)

    def area_evidence(self, chf_id: str, event_at: datetime) -> bool:
        """Whether enough AD1s of other CHFs of the sector near ``event_at`` were forwarded."""
        if self.area_threshold is None:
            return False
        sector = self.sector_of(chf_id)
        if sector is None:
            return False
        span, needed = self.area_span, self.area_threshold
        count = 0
        for at, other in self._forwarded_by_sector.get(sector, ()):
            if other != chf_id and abs(at - event_at) <= span:
                count += 1
                if count >= needed:
                    return True
        return False

    def forwarded(self, chf_id: str, event_at: datetime, decided_at: datetime) -> None:
        """An AD1 reached its DNO; it may be the evidence that releases others of its sector."""
        if self.area_threshold is None:
            return
        sector = self.sector_of(chf_id)
        if sector is None:
            return
        work = [(sector, event_at, chf_id)]
        while work:
            sector, at, chf = work.pop()
            history = self._forwarded_by_sector.setdefault(sector, [])
            history.append((at, chf))
            if len(history) > 64 and len(history) & 63 == 0:
                horizon = max(a for a, _ in history) - self.area_span - _SECTOR_HISTORY
                history[:] = [h for h in history if h[0] >= horizon]
            waiting = self._suppressed_by_sector.get(sector)
            if not waiting:
                continue
            for alert_id, entry in list(waiting.items()):
                if entry.chf_id == chf or abs(entry.event_at - at) > self.area_span:
                    continue
                if self.area_evidence(entry.chf_id, entry.event_at):
                    del waiting[alert_id]
                    self._pending.pop(alert_id, None)
                    if self.verifier is not None:
                        self.verifier.withdraw(alert_id, decided_at)
                    self._ready.append(
                        replace(entry, released_at=decided_at, release_reason=AREA_OUTAGE_EVIDENCE)
                    )
                    work.append((sector, entry.event_at, entry.chf_id))

    def suppressed(self, entry: SuppressionEntry, decided_at: datetime) -> None:
        """A new, unreleased Suppression Log entry: watch it for either guard."""
        if self.area_threshold is not None:
            sector = self.sector_of(entry.chf_id)
            if sector is not None:
                waiting = self._suppressed_by_sector.setdefault(sector, {})
                waiting[entry.alert_id] = entry
                if len(waiting) > 64 and len(waiting) & 63 == 0:
                    horizon = max(e.event_at for e in waiting.values()) - _SECTOR_HISTORY
                    for alert_id in [a for a, e in waiting.items() if e.event_at < horizon]:
                        del waiting[alert_id]
        if self.verifier is not None:
            after_v = entry.event_at + self.verifier.plan.after
            self.verifier.watch(entry, self._first_sign_after(entry.chf_id, after_v))
        if self.release_after is None:
            return
        if self.lit(entry):
            return
        due = entry.event_at + self.release_after
        self._pending[entry.alert_id] = entry
        self._pending_by_chf.setdefault(entry.chf_id, []).append(entry.alert_id)
        heapq.heappush(self._dark_heap, (max(due, decided_at), entry.alert_id))

    def sign_of_life(self, device_id: str, at: datetime) -> None:
        """A message from a device proves its site had power at ``at``: the site of the hub
        the device is joined to, or of the device itself when it is a hub (or unknown: a hub
        need not have its own inventory row)."""
        if not self.keeps_signs:
            return
        device = self._inventory.get(device_id)
        if device is None or device.device_type is DeviceType.CHF:
            self.hub_sign(device_id, at)
        elif device.chf_id is not None:
            self.hub_sign(device.chf_id, at)

    def hub_sign(self, chf_id: str, at: datetime) -> None:
        """A sign of life at the site of hub ``chf_id``. Every sign is kept: an AD1 delivered
        hours late may still be lit by one received long ago."""
        if not self.keeps_signs:
            return
        bisect.insort(self._signs.setdefault(chf_id, []), at)
        if self.verifier is not None:
            self.verifier.sign(chf_id, at)
        after = self.release_after
        if after is None:
            return
        waiting = self._pending_by_chf.get(chf_id)
        if not waiting:
            return
        still = []
        for alert_id in waiting:
            entry = self._pending.get(alert_id)
            if entry is None:
                continue
            if lights(at, entry.event_at, after):
                del self._pending[alert_id]  # lit: never released for darkness
            else:
                still.append(alert_id)
        if still:
            self._pending_by_chf[chf_id] = still
        else:
            del self._pending_by_chf[chf_id]

    def lit(self, entry: SuppressionEntry) -> bool:
        """Whether a sign of life known so far lights ``entry``'s site (``lights``)."""
        if self.release_after is None:
            return False
        # The first sign after event_at is the only one that can be in time.
        first = self._first_sign_after(entry.chf_id, entry.event_at)
        return first is not None and lights(first, entry.event_at, self.release_after)

    def _first_sign_after(self, chf_id: str, moment: datetime) -> datetime | None:
        signs = self._signs.get(chf_id)
        if not signs:
            return None
        i = bisect.bisect_right(signs, moment)
        return signs[i] if i < len(signs) else None

    # -- what the caller collects ---------------------------------------------------------------

    def due(self, now: datetime, *, inclusive: bool = True) -> list[SuppressionEntry]:
        """The releases whose time has come by ``now`` (strictly before it when not
        ``inclusive``), in the order they fell due, and the area-outage releases made since."""
        released = self._ready
        self._ready = []
        heap, verifier = self._dark_heap, self.verifier
        while True:
            # The next of release-if-dark's and the verifier's times, in order (dark first).
            dark_at = heap[0][0] if heap else None
            verify_at = None if verifier is None else verifier.next_due()
            at = min((t for t in (dark_at, verify_at) if t is not None), default=None)
            if at is None or (at > now if inclusive else at >= now):
                return released
            if at == dark_at:
                _, alert_id = heapq.heappop(heap)
                entry = self._pending.pop(alert_id, None)
                if entry is None:
                    continue  # lit, or released by another guard
                done = replace(entry, released_at=at, release_reason=NO_SIGN_OF_LIFE)
            else:
                assert verifier is not None
                alert_id, verified = verifier.fire()
                if verified is None:
                    continue  # a request sent, or an attempt expired with another to come
                self._pending.pop(alert_id, None)
                done = verified
            if verifier is not None:
                verifier.withdraw(alert_id, at)
            sector = self.sector_of(done.chf_id)
            if sector is not None and sector in self._suppressed_by_sector:
                self._suppressed_by_sector[sector].pop(alert_id, None)
            released.append(done)
            self.forwarded(done.chf_id, done.event_at, at)
            released.extend(self._ready)
            self._ready = []

    # -- restoring from the store ---------------------------------------------------------------

    def restore(
        self,
        signs: Iterable[tuple[str, datetime]],
        outcomes: Iterable[SuppressionEntry | ForwardedAlert],
    ) -> None:
        """Rebuild the state from what is durable: every sign of life as ``(device_id,
        received_at)``, then every decided AD1 (each read once)."""
        if not self.active:
            return
        for device_id, at in signs:
            self.sign_of_life(device_id, at)
        for outcome in outcomes:
            if type(outcome) is SuppressionEntry and outcome.released_at is None:
                self.suppressed(outcome, outcome.decided_at)
            else:  # forwarded at once, or released: either reached its DNO
                self._remember_forwarded(outcome.chf_id, outcome.event_at)

    def _remember_forwarded(self, chf_id: str, event_at: datetime) -> None:
        if self.area_threshold is None:
            return
        sector = self.sector_of(chf_id)
        if sector is not None:
            self._forwarded_by_sector.setdefault(sector, []).append((event_at, chf_id))
