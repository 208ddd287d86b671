"""Why one AD1 had its outcome (spec §12, "Explain"): the hub, the ESME and DNO it routed to,
every activation of the hub with how its window stood for this alert, the guards' evidence,
and any release — for DCC operations, and for a DNO about its own alerts only.

The verdict on each window is the domain's (``gate.window_verdict``: the checks the gate makes,
named). Windows are shown as they stand now: an immediate activation repeated after the alert
was decided may have a later end than it had then; the Suppression Log entry keeps the window
as it was at the decision, and the suppressing window is shown with it.

A DNO's explanation holds nothing of another DNO: the area-outage evidence lists only AD1s of
the caller's own network operators (the count of others' is not shown either). Its webhook
delivery is shown without the outbox's number (a counter of every DNO's deliveries), and to a
DNO with a generic error only: what a connection to its webhook's address met (refused, timed
out, an address refused) would let whoever controls the name's DNS probe poagate's network.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from poagate.domain.gate import window_verdict
from poagate.domain.guards import Guards, lights
from poagate.domain.outcomes import (
    ActivationRecord,
    ForwardedAlert,
    SuppressionEntry,
    WindowVerdict,
)
from poagate.domain.reference import Config
from poagate.domain.values import value
from poagate.domain.verification import VerificationRequest
from poagate.store.activations import Window
from poagate.store.alerts.decided import EvidencePoint
from poagate.store.outbox import DeliveryState
from poagate.store.ports import Explaining

GENERIC_ERROR = "the last attempt failed"  # what a DNO reads of a failed delivery attempt
NOT_YET_SEEN = "not_yet_seen"  # the activation was first received after the AD1 was decided
SIGN_SPAN_OFF = timedelta(minutes=60)  # signs of life shown when release-if-dark is off
EVIDENCE_SHOWN = 20


@value
class ConsideredWindow:
    """One activation of the hub and how its window stood for the alert."""

    request_id: str
    device_id: str
    originator: str
    kind: str
    reason: str  # R1's eligibility reason (or cancellation)
    status: str
    received_at: datetime
    execution_at: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    ended_at: datetime | None
    ended_by: str | None
    end_note: str | None
    guid_list_version: int | None
    verdict: str  # a WindowVerdict, or not_yet_seen
    suppressed_it: bool


@value
class Routing:
    """Where the alert went: the ESME and DNO (R8). ``source`` says where the ESME comes
    from: the suppressing activation, or the inventory in force now (a forwarded AD1)."""

    network_operator: str
    esme_id: str | None
    mpan: str | None
    source: str


@value
class SignsOfLife:
    """release-if-dark's evidence: the hub's signs of life after the outage."""

    release_after_minutes: int | None  # the guard's setting now (None: off)
    looked_until: datetime
    signs: tuple[datetime, ...]
    lit: bool  # a sign within the guard's span (always False while it is off)


@value
class EvidenceAlert:
    alert_id: str
    chf_id: str
    network_operator: str
    event_at: datetime


@value
class AreaEvidence:
    """area-outage's evidence: AD1s of other hubs of the sector that reached their DNO."""

    threshold: int | None  # the guard's setting now (None: off)
    seconds: int
    sector: str | None
    alerts: tuple[EvidenceAlert, ...]
    only_own_operators: bool  # a DNO sees only its own operators' AD1s


@value
class Release:
    released_at: datetime
    reason: str
    released_by: str | None  # an operator's release
    note: str | None


@value
class DeliveryShown:
    """Where the AD1's webhook delivery stands, as the caller may see it (spec §16, §18): its
    status and attempts, never a store-wide number; ``error`` the last attempt's for DCC
    operations, ``GENERIC_ERROR`` for a DNO."""

    status: str  # pending, held, delivered or dead
    attempts: int
    next_attempt_at: datetime | None  # while pending
    delivered_at: datetime | None
    error: str | None


def delivery_shown(state: DeliveryState | None, for_dno: bool) -> DeliveryShown | None:
    if state is None:
        return None
    error = state.last_error
    if error is not None and for_dno:
        error = GENERIC_ERROR
    return DeliveryShown(
        status=state.status,
        attempts=state.attempts,
        next_attempt_at=state.next_attempt_at if state.status == "pending" else None,
        delivered_at=state.delivered_at,
        error=error if state.status != "delivered" else None,
    )


@value
class Explanation:
    alert_id: str
    outcome: str  # suppressed or forwarded
    reason: str  # the rule that suppressed it, or why it was forwarded
    chf_id: str
    event_at: datetime
    received_at: datetime
    decided_at: datetime
    duplicates: int
    routing: Routing
    windows: tuple[ConsideredWindow, ...]
    release_if_dark: SignsOfLife
    area_outage: AreaEvidence
    release: Release | None
    # spec §14: every attempt to verify the site, in order (none when the guard was off, or a
    # sign of life settled it before a request was due).
    verifications: tuple[VerificationRequest, ...]
    delivery: DeliveryShown | None
    suppression_enabled: bool  # now


def explain(
    store: Explaining, alert_id: str, network_operators: frozenset[str] | None
) -> Explanation | None:
    """The explanation of ``alert_id``, or None when it is not decided or not the caller's
    (``network_operators`` None: any) — the two are not told apart."""
    decided = store.alerts.explained(alert_id, network_operators)
    if decided is None:
        return None
    outcome = decided.outcome
    config = store.reference.config()
    hub = outcome.chf_id
    inventory = store.fleet.lookup([hub], [hub], esmes=True)
    windows = tuple(
        _considered(w, outcome, config)
        for w in store.activations.windows_of_hub(hub, network_operators)
    )
    if type(outcome) is SuppressionEntry:
        routing = Routing(outcome.network_operator, outcome.esme_id, outcome.mpan, "activation")
        suppressed, reason = True, outcome.rule
        release = (
            None
            if outcome.released_at is None
            else Release(
                outcome.released_at,
                outcome.release_reason or "",
                decided.released_by,
                decided.release_note,
            )
        )
    else:
        assert type(outcome) is ForwardedAlert
        esme = inventory.esme_for_chf(hub)
        routing = Routing(
            outcome.network_operator,
            None if esme is None else esme.device_id,
            None if esme is None else esme.mpan,
            "inventory",
        )
        suppressed, reason, release = False, outcome.reason, None
    sector = decided.sector or Guards(Config(area_outage_threshold=1), inventory).sector_of(hub)
    return Explanation(
        alert_id=outcome.alert_id,
        outcome="suppressed" if suppressed else "forwarded",
        reason=reason,
        chf_id=hub,
        event_at=outcome.event_at,
        received_at=outcome.received_at,
        decided_at=outcome.decided_at,
        duplicates=decided.duplicates,
        routing=routing,
        windows=windows,
        release_if_dark=_signs(store, outcome, config),
        area_outage=_area(store, outcome, config, sector, network_operators),
        release=release,
        verifications=tuple(
            sorted(store.verifications.of_alerts([alert_id]), key=lambda r: r.attempt)
        ),
        delivery=delivery_shown(store.outbox.state_of(alert_id), network_operators is not None),
        suppression_enabled=config.suppression_enabled,
    )


def _considered(
    window: Window, outcome: SuppressionEntry | ForwardedAlert, config: Config
) -> ConsideredWindow:
    record: ActivationRecord = window.activation
    suppressing = (
        type(outcome) is SuppressionEntry and outcome.activation_request_id == record.request_id
    )
    if suppressing:
        # As it stood at the decision (a later repeat may have extended it since).
        assert type(outcome) is SuppressionEntry
        record = replace(record, window_start=outcome.window_start, window_end=outcome.window_end)
    verdict: str
    if record.received_at > outcome.decided_at:
        verdict = NOT_YET_SEEN
    else:
        verdict = window_verdict(
            record, outcome.event_at, outcome.received_at, config.skew_tolerance
        ).value
    if suppressing:
        verdict = WindowVerdict.CONTAINS.value
    return ConsideredWindow(
        request_id=record.request_id,
        device_id=record.device_id,
        originator=record.originator,
        kind=record.kind.value,
        reason=record.reason.value,
        status=record.status.value,
        received_at=record.received_at,
        execution_at=record.execution_at,
        window_start=record.window_start,
        window_end=record.window_end,
        ended_at=record.ended_at,
        ended_by=window.ended_by,
        end_note=window.end_note,
        guid_list_version=record.guid_list_version,
        verdict=verdict,
        suppressed_it=suppressing,
    )


def _signs(
    store: Explaining, outcome: SuppressionEntry | ForwardedAlert, config: Config
) -> SignsOfLife:
    minutes = config.release_after_minutes
    span = SIGN_SPAN_OFF if minutes is None else timedelta(minutes=minutes)
    until = outcome.event_at + span
    signs = tuple(
        sorted(
            at
            for _, at in store.signs.of_hubs(
                [outcome.chf_id], store.fleet.members([outcome.chf_id]), outcome.event_at, until
            )
        )
    )
    lit = minutes is not None and any(lights(at, outcome.event_at, span) for at in signs)
    return SignsOfLife(minutes, until, signs, lit)


def _area(
    store: Explaining,
    outcome: SuppressionEntry | ForwardedAlert,
    config: Config,
    sector: str | None,
    network_operators: frozenset[str] | None,
) -> AreaEvidence:
    span = timedelta(seconds=config.area_outage_seconds)
    found: list[EvidenceAlert] = []
    if sector is not None:
        point = EvidencePoint(sector, outcome.chf_id, outcome.event_at)
        for _, other in store.alerts.area_evidence([point], span, EVIDENCE_SHOWN):
            if network_operators is None or other.network_operator in network_operators:
                found.append(
                    EvidenceAlert(
                        other.alert_id, other.chf_id, other.network_operator, other.event_at
                    )
                )
    return AreaEvidence(
        config.area_outage_threshold,
        config.area_outage_seconds,
        sector,
        tuple(found),
        network_operators is not None,
    )
