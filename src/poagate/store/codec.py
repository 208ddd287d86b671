"""Domain records to table rows and back, shared by every backend (see ``schema``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from poagate.domain.events import ActivationKind
from poagate.domain.outcomes import ActivationRecord, ForwardedAlert, Status, SuppressionEntry
from poagate.domain.reference import Device, DeviceType, SmetsVersion
from poagate.domain.rules import Reason
from poagate.formats.errors import Rejection
from poagate.formats.records import ACTIVATION_FIELDS
from poagate.formats.timestamps import EPOCH, from_us, to_us
from poagate.store.batch import Batch

_ONE_US = timedelta(microseconds=1)


def opt_us(moment: datetime | None) -> int | None:
    return None if moment is None else (moment - EPOCH) // _ONE_US


def opt_from_us(us: int | None) -> datetime | None:
    return None if us is None else EPOCH + timedelta(microseconds=us)


AD1_COLUMNS = (
    "alert_id",
    "suppressed",
    "chf_id",
    "network_operator",
    "event_at",
    "received_at",
    "decided_at",
    "reason",
    "esme_id",
    "mpan",
    "activation_request_id",
    "activation_originator",
    "window_start",
    "window_end",
    "released_at",
    "release_reason",
)
# CPython's sqlite3 binds None and bool through its adapter protocol at about 1 µs a value, more
# than the rest of a row costs, so each kind of row is inserted naming only the columns it has
# (the others default to NULL) and flags are bound as 0/1.
# Rows carry an explicit seq (decision order) so that the two kinds can be inserted by two
# statements and still read back in the order they were decided.
# A forwarded AD1's place in its DNO's feed (feed_seq) is its seq; see ``schema``.
FORWARDED_COLUMNS = ("seq", *AD1_COLUMNS[:8], "sector", "feed_seq")
SUPPRESSED_COLUMNS = ("seq", *AD1_COLUMNS[:14], "sector")
NULL_INT = -1  # bound instead of None and turned back into NULL by NULLIF(?, -1)
NULL_TEXT = ""  # the same for text columns: NULLIF(?, '')


def _ad1_head(
    seq: int, o: SuppressionEntry | ForwardedAlert, suppressed: int, reason: str
) -> tuple[Any, ...]:
    """The columns every AD1 outcome has (``FORWARDED_COLUMNS``)."""
    received = to_us(o.received_at)
    return (
        seq,
        o.alert_id,
        suppressed,
        o.chf_id,
        o.network_operator,
        received if o.event_at is o.received_at else to_us(o.event_at),
        received,
        received if o.decided_at is o.received_at else to_us(o.decided_at),
        reason,
    )


def encode_forwarded(seq: int, o: ForwardedAlert, sector: str | None) -> tuple[Any, ...]:
    """A forwarded AD1 as a row of ``FORWARDED_COLUMNS``."""
    return (*_ad1_head(seq, o, 0, o.reason), sector or NULL_TEXT, seq)


def encode_suppressed(seq: int, o: SuppressionEntry, sector: str | None) -> tuple[Any, ...]:
    """A Suppression Log entry as a row of ``SUPPRESSED_COLUMNS`` (a release is recorded later).

    ``mpan`` and ``sector`` go through NULLIF(?, '')."""
    return (
        *_ad1_head(seq, o, 1, o.rule),
        o.esme_id,
        o.mpan or NULL_TEXT,
        o.activation_request_id,
        o.activation_originator,
        to_us(o.window_start),
        to_us(o.window_end),
        sector or NULL_TEXT,
    )


def decode_ad1(row: Sequence[Any]) -> SuppressionEntry | ForwardedAlert:
    """A row selected with ``AD1_COLUMNS`` in that order."""
    if not row[1]:
        return ForwardedAlert(
            alert_id=row[0],
            chf_id=row[2],
            network_operator=row[3],
            event_at=from_us(row[4]),
            received_at=from_us(row[5]),
            decided_at=from_us(row[6]),
            reason=row[7],
        )
    return SuppressionEntry(
        alert_id=row[0],
        chf_id=row[2],
        esme_id=row[8],
        mpan=row[9],
        network_operator=row[3],
        event_at=from_us(row[4]),
        received_at=from_us(row[5]),
        decided_at=from_us(row[6]),
        activation_request_id=row[10],
        activation_originator=row[11],
        window_start=from_us(row[12]),
        window_end=from_us(row[13]),
        rule=row[7],
        released_at=opt_from_us(row[14]),
        release_reason=row[15],
    )


# The activation record's spec §7 fields, then what the gate needs to restore its state.
ACTIVATION_COLUMNS = (
    *ACTIVATION_FIELDS,
    "mpan",
    "network_operator",
    "last_received_at",
    "repeats",
    "command_variant",
    "firmware_hash",
    "ended_at",  # set only by an operator (store.controls), never by an upsert
)
# What a repeat (R2) or R3/R4 can change once the record exists.
ACTIVATION_MUTABLE = (
    "received_at",
    "status",
    "window_start",
    "window_end",
    "last_received_at",
    "repeats",
)


# Which activation columns may be NULL, and so are bound as a sentinel through NULLIF.
ACTIVATION_NULLABLE_INT = frozenset(
    {
        "execution_at",
        "window_start",
        "window_end",
        "guid_list_version",
        "command_variant",
        "ended_at",
    }
)
ACTIVATION_NULLABLE_TEXT = frozenset({"chf_id", "mpan", "firmware_hash"})


def encode_activation(r: ActivationRecord) -> tuple[Any, ...]:
    """A row of ``ACTIVATION_COLUMNS`` with NULLs as sentinels (see the NULLABLE sets)."""
    return (
        r.request_id,
        r.device_id,
        r.originator,
        r.kind.value,
        to_us(r.received_at),
        NULL_INT if r.execution_at is None else to_us(r.execution_at),
        r.chf_id or NULL_TEXT,
        r.reason.value,
        r.status.value,
        NULL_INT if r.window_start is None else to_us(r.window_start),
        NULL_INT if r.window_end is None else to_us(r.window_end),
        NULL_INT if r.guid_list_version is None else r.guid_list_version,
        r.mpan or NULL_TEXT,
        r.network_operator,
        to_us(r.last_received_at),
        r.repeats,
        NULL_INT if r.command_variant is None else r.command_variant,
        r.firmware_hash or NULL_TEXT,
        NULL_INT if r.ended_at is None else to_us(r.ended_at),
    )


def decode_activation(row: Sequence[Any]) -> ActivationRecord:
    return ActivationRecord(
        request_id=row[0],
        device_id=row[1],
        originator=row[2],
        kind=ActivationKind(row[3]),
        received_at=from_us(row[4]),
        execution_at=opt_from_us(row[5]),
        chf_id=row[6],
        reason=Reason(row[7]),
        status=Status(row[8]),
        window_start=opt_from_us(row[9]),
        window_end=opt_from_us(row[10]),
        guid_list_version=row[11],
        mpan=row[12],
        network_operator=row[13],
        last_received_at=from_us(row[14]),
        repeats=row[15],
        command_variant=row[16],
        firmware_hash=row[17],
        ended_at=opt_from_us(row[18]),
    )


DEVICE_COLUMNS = (
    "device_id",
    "device_type",
    "smets_version",
    "manufacturer",
    "chf_id",
    "mpan",
    "network_operator",
    "postcode",
)


DEVICE_NULLABLE_TEXT = frozenset({"chf_id", "mpan", "postcode"})


_TEXT_OF: dict[DeviceType | SmetsVersion, str] = {
    **{t: t.value for t in DeviceType},
    **{v: v.value for v in SmetsVersion},
}


def encode_device(d: Device, load_id: int) -> tuple[Any, ...]:
    """A row of ``DEVICE_COLUMNS`` and the load id; NULL text as '' (see ``NULL_TEXT``).

    Enum members are bound as their plain text: sqlite3 adapts a str subclass slowly."""
    return (
        d.device_id,
        _TEXT_OF[d.device_type],
        _TEXT_OF[d.smets_version],
        d.manufacturer,
        d.chf_id or NULL_TEXT,
        d.mpan or NULL_TEXT,
        d.network_operator,
        d.postcode or NULL_TEXT,
        load_id,
    )


_DEVICE_TYPES = {t.value: t for t in DeviceType}
_SMETS = {s.value: s for s in SmetsVersion}


def decode_device(row: Sequence[Any]) -> Device:
    return Device(
        device_id=row[0],
        device_type=_DEVICE_TYPES[row[1]],
        smets_version=_SMETS[row[2]],
        manufacturer=row[3],
        chf_id=row[4],
        mpan=row[5],
        network_operator=row[6],
        postcode=row[7],
    )


@dataclass(slots=True)
class Rows:
    """What one transaction of decisions writes, as table rows: plain tuples of ints and
    strings, picklable, with sentinels where a value is NULL (see ``NULL_INT``). ``next_seq``
    follows the last AD1. (Reference data is loaded by ``poagate.store.fleet`` and
    ``poagate.store.reference`` in transactions of their own.)
    """

    forwarded: list[tuple[Any, ...]] = field(default_factory=list)
    suppressed: list[tuple[Any, ...]] = field(default_factory=list)
    activations: list[tuple[Any, ...]] = field(default_factory=list)
    duplicates: list[tuple[Any, ...]] = field(default_factory=list)
    activation_outcomes: list[tuple[Any, ...]] = field(default_factory=list)
    device_messages: list[tuple[Any, ...]] = field(default_factory=list)
    ignored: list[tuple[Any, ...]] = field(default_factory=list)
    rejected: list[tuple[Any, ...]] = field(default_factory=list)
    progress: list[tuple[int, int]] = field(default_factory=list)  # (events_done, source id)
    # (released_at, release_reason, feed_seq, alert_id)
    releases: list[tuple[int, str, int, str]] = field(default_factory=list)
    next_seq: int = 0
    # spec §14 requests (``poagate.store.verifications.VERIFICATION_COLUMNS``)
    verifications: list[tuple[Any, ...]] = field(default_factory=list)


def encode_rejected(kind: str, rejected: Iterable[Rejection]) -> list[tuple[Any, ...]]:
    return [
        (kind, r.source, NULL_INT if r.line is None else r.line, r.error, r.raw) for r in rejected
    ]


def encode_batch(
    batch: Batch, next_seq: int, sector_of: Callable[[str], str | None] | None = None
) -> Rows:
    """The batch as rows: its AD1 outcomes numbered from ``next_seq`` in decision order, then
    its releases, each given the next number as its place in the feed. ``sector_of`` gives
    each outcome's sector (left NULL without it)."""
    forwarded: list[tuple[Any, ...]] = []
    suppressed: list[tuple[Any, ...]] = []
    seq = next_seq
    for outcome in batch.ad1_outcomes:
        sector = None if sector_of is None else sector_of(outcome.chf_id)
        if type(outcome) is ForwardedAlert:
            forwarded.append(encode_forwarded(seq, outcome, sector))
        else:
            assert type(outcome) is SuppressionEntry
            suppressed.append(encode_suppressed(seq, outcome, sector))
        seq += 1
    releases = []
    for entry in batch.releases:
        if entry.released_at is not None:
            releases.append(
                (to_us(entry.released_at), entry.release_reason or "", seq, entry.alert_id)
            )
            seq += 1
    return Rows(
        forwarded=forwarded,
        suppressed=suppressed,
        activations=[encode_activation(r) for r in batch.activations.values()],
        duplicates=[
            (d.alert_id, d.chf_id, to_us(d.received_at), source or NULL_TEXT, line or NULL_INT)
            for d, source, line in batch.duplicates
        ],
        activation_outcomes=[
            (
                o.device_id,
                to_us(o.received_at),
                o.request_id or NULL_TEXT,
                NULL_INT if o.success is None else int(o.success),
            )
            for o in batch.activation_outcomes
        ],
        device_messages=[(m.device_id, to_us(m.received_at)) for m in batch.device_messages],
        ignored=[
            (to_us(i.received_at), i.what, source or NULL_TEXT, line or NULL_INT)
            for i, source, line in batch.ignored
        ],
        rejected=[row for kind, r in batch.rejected for row in encode_rejected(kind, (r,))],
        progress=[(done, source_id) for source_id, done in batch.progress.items()],
        releases=releases,
        next_seq=seq,
    )
