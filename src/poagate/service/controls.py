"""The incident controls of spec §12: what an operator does to take back what the gate does,
each act in one transaction with its audit entry (who, when, what), the same for the API, the
command line and the console.

* **Suspend / resume** (``set_suppression``): a setting (``suppression_enabled``) that every
  group of decisions reads, confirmed under the writers' lock (``poagate.store.marks``), so it
  takes effect for the next group of messages of every server process. While suspended every
  AD1 is forwarded (``suppression_suspended``); activations are still recorded and windows
  still opened. It is a configuration change like any other
  (``poagate.service.configuration``, the act behind ``PUT /v1/config`` too).
* **End a window** (``end_window``): it suppresses nothing received from then on.
* **Release** (``release``): Suppression Log entries not yet released are released exactly as
  a guard releases them (in a unit of work of the decision path: ``released_at``,
  ``release_reason = operator``, a place at the end of the DNO's feed, the held message due for
  its webhook), and signed with who released them and why.
* **Explain** (``explain``, in ``explain.py``) says why an alert had its outcome.

Writes run on the caller's writer connection (the API's ``Ingestor.call``), so they take their
turn with the decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from poagate.domain.ids import IdentifierError, parse_device_id, parse_network_operator
from poagate.domain.outcomes import OPERATOR, SuppressionEntry
from poagate.domain.values import value
from poagate.formats.errors import InputError
from poagate.formats.settings import Settings
from poagate.formats.timestamps import parse_timestamp
from poagate.service.acts import checked_note
from poagate.service.configuration import RESUME, SUSPEND, change_configuration
from poagate.store.activations import Window
from poagate.store.alerts.listings import OutcomeFilter
from poagate.store.ports import ControlPath

WINDOW_END = "window.end"
RELEASE = "release"
RELEASE_CHUNK = 5_000  # entries released per statement batch, within the one transaction
AUDITED_IDS = 100  # alert_ids named in a release's audit entry (the entries name the act)


@value
class SuppressionState:
    """Whether the gate suppresses, and the act that made it so (None: never changed)."""

    enabled: bool
    changed_at: datetime | None = None
    changed_by: str | None = None
    note: str | None = None


def suppression_state(store: ControlPath) -> SuppressionState:
    """The switch as it stands: cheap enough for every page of the console."""
    enabled = store.reference.config().suppression_enabled
    act = store.audit.last_act((SUSPEND, RESUME))
    if act is None:
        return SuppressionState(enabled)
    return SuppressionState(enabled, act.at, act.actor, act.detail.get("note"))


def set_suppression(
    store: ControlPath, enabled: bool, actor: str, at: datetime, note: str | None = None
) -> tuple[SuppressionState, bool]:
    """Suspend (``enabled`` False) or resume suppression, as ``PUT /v1/config`` with only
    ``suppression_enabled`` does; the state after, and whether it changed (asking for the state
    in force changes nothing and records nothing). Raises ``ValueError`` for a bad note."""
    done = change_configuration(store, Settings(suppression_enabled=enabled), actor, at, note)
    return suppression_state(store), done.changed


def end_window(
    store: ControlPath, request_id: str, actor: str, at: datetime, note: str | None = None
) -> Window:
    """End the window of ``request_id`` from ``at``; raises ``store.activations.WindowNotEndable``
    (nothing to end) and ``ValueError`` (a bad note)."""
    note = checked_note(note)
    with store.transaction():
        window = store.activations.end_window(request_id, at, actor, note)
        record = window.activation
        store.audit.record(
            at,
            actor,
            WINDOW_END,
            {
                "request_id": request_id,
                "chf_id": record.chf_id,
                "network_operator": record.network_operator,
                "window_start": record.window_start,
                "window_end": record.window_end,
                "note": note,
            },
        )
    return window


class ReleaseRequestError(ValueError):
    """A release that names its entries wrongly; ``field`` is the part at fault (None when it
    is how the parts are combined). The message names it too."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@value
class ReleaseRequest:
    """Which entries to release: by alert ids, by hub, or by network operator and a time range
    of ``received_at`` (from inclusive, to exclusive) — the Suppression Log's own filters, so
    an operator releases exactly what a filtered view of the log shows."""

    alert_ids: tuple[str, ...] | None = None
    chf_id: str | None = None
    network_operator: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        ways = sum(
            (self.alert_ids is not None, self.chf_id is not None, self.network_operator is not None)
        )
        if ways != 1:
            raise ValueError(
                "name the entries one way: alert_ids, or chf_id, or network_operator with "
                "from and to"
            )
        if self.alert_ids is not None and not self.alert_ids:
            raise ValueError("alert_ids is empty")
        if self.network_operator is not None and (self.since is None or self.until is None):
            raise ValueError("a release by network_operator needs both from and to")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ValueError("to must be after from")

    @classmethod
    def parse(
        cls,
        alert_ids: Sequence[str] | None,
        chf_id: str | None,
        network_operator: str | None,
        since: str | None,
        until: str | None,
        *,
        time_names: tuple[str, str] = ("from", "to"),
    ) -> ReleaseRequest:
        """A release as the API, the console and the command line receive it: text, None for
        a part not given (no alert ids: none given). ``time_names`` are what the channel calls
        the range's ends (the command line's ``--from``), for its messages. Raises
        ``ReleaseRequestError``."""
        try:
            hub = None if chf_id is None else parse_device_id(chf_id)
        except IdentifierError as exc:
            raise ReleaseRequestError(str(exc), "chf_id") from None
        try:
            operator = (
                None if network_operator is None else parse_network_operator(network_operator)
            )
        except IdentifierError as exc:
            raise ReleaseRequestError(str(exc), "network_operator") from None
        moments: list[datetime | None] = []
        for text, name in zip((since, until), time_names, strict=True):
            try:
                moments.append(None if text is None else parse_timestamp(text, name))
            except InputError as exc:
                raise ReleaseRequestError(str(exc), name) from None
        try:
            return cls(
                alert_ids=tuple(alert_ids) if alert_ids else None,
                chf_id=hub,
                network_operator=operator,
                since=moments[0],
                until=moments[1],
            )
        except ValueError as exc:
            raise ReleaseRequestError(str(exc)) from None

    def selection(self) -> OutcomeFilter:
        return OutcomeFilter(
            suppressed=True,
            alert_ids=None if self.alert_ids is None else frozenset(self.alert_ids),
            chf_id=self.chf_id,
            network_operators=None
            if self.network_operator is None
            else frozenset({self.network_operator}),
            since=self.since,
            until=self.until,
        )

    def described(self) -> dict[str, object]:
        """The request as the audit log records it."""
        named: dict[str, object] = {}
        if self.alert_ids is not None:
            named["alert_ids"] = list(self.alert_ids[:AUDITED_IDS])
            named["alert_ids_given"] = len(self.alert_ids)
        for key, given in (
            ("chf_id", self.chf_id),
            ("network_operator", self.network_operator),
            ("from", self.since),
            ("to", self.until),
        ):
            if given is not None:
                named[key] = given
        return named


@value
class ReleaseResult:
    """What a release did (or, ``dry_run``, would do)."""

    released: int
    already_released: int
    not_in_log: tuple[str, ...]  # alert ids given that are no Suppression Log entry
    dry_run: bool
    released_at: datetime


def release(
    store: ControlPath,
    request: ReleaseRequest,
    actor: str,
    at: datetime,
    note: str | None = None,
    *,
    dry_run: bool = False,
) -> ReleaseResult:
    """Release every entry ``request`` names that is not released yet, as a guard does, and
    sign each with the act (see the module docstring). All in one transaction."""
    note = checked_note(note)
    which = request.selection()
    with store.transaction():
        already = store.listings.count(replace(which, released=True))
        not_in_log: tuple[str, ...] = ()
        if request.alert_ids is not None:
            in_log = store.listings.count(which)
            if in_log < len(set(request.alert_ids)):
                found = {o.alert_id for o in store.listings.ad1_outcomes(which)}
                not_in_log = tuple(sorted(set(request.alert_ids) - found))
        if dry_run:
            waiting = store.listings.count(replace(which, released=False))
            return ReleaseResult(waiting, already, not_in_log, True, at)
        released = 0
        unreleased = replace(which, released=False)
        with store.deciding() as unit:
            while True:
                # Released entries leave the selection once written (``flush``), so the first
                # page is always the next.
                chunk = store.listings.outcomes_page(unreleased, None, RELEASE_CHUNK)
                if not chunk:
                    break
                entries = [
                    replace(e, released_at=at, release_reason=OPERATOR)
                    for e in chunk
                    if isinstance(e, SuppressionEntry)
                ]
                unit.release(entries, at)
                unit.flush()
                store.alerts.sign_releases([e.alert_id for e in entries], actor, note)
                released += len(entries)
        store.audit.record(
            at,
            actor,
            RELEASE,
            {**request.described(), "released": released, "note": note},
        )
    return ReleaseResult(released, already, not_in_log, False, at)


@value
class WindowView:
    """A window as operators list it (spec §12), with its state at the moment asked:
    ``open`` (it contains now), ``scheduled`` (it starts later), ``closed`` (it ended on its
    own), ``ended`` (an operator ended it), ``cancelled`` or ``superseded`` (R3/R4)."""

    request_id: str
    device_id: str
    chf_id: str | None
    network_operator: str
    mpan: str | None
    kind: str
    status: str
    state: str
    received_at: datetime
    execution_at: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    ended_at: datetime | None
    ended_by: str | None
    end_note: str | None


def window_view(window: Window, now: datetime) -> WindowView:
    record = window.activation
    start, end = record.window_start, record.window_end
    if record.status.value != "active":
        state = record.status.value
    elif record.ended_at is not None:
        state = "ended"
    elif start is not None and now < start:
        state = "scheduled"
    elif end is not None and now >= end:
        state = "closed"
    else:
        state = "open"
    return WindowView(
        request_id=record.request_id,
        device_id=record.device_id,
        chf_id=record.chf_id,
        network_operator=record.network_operator,
        mpan=record.mpan,
        kind=record.kind.value,
        status=record.status.value,
        state=state,
        received_at=record.received_at,
        execution_at=record.execution_at,
        window_start=start,
        window_end=end,
        ended_at=record.ended_at,
        ended_by=window.ended_by,
        end_note=window.end_note,
    )
