"""Activations and their windows (``activations``): the record of every firmware-activation
request (spec §7), what the gate restores its windows from, and the windows operators list and
end (spec §12).

A replay restores its gate from every record once (``records``); the service reads, inside each
group's transaction, only the records that group's events can read or change
(``activations_for``). A record is upserted by request_id: a repeat (R2) or R3/R4 changes only
``ACTIVATION_MUTABLE``; only an operator ends a window (``end_window``). Records age by
``last_received_at``, their latest repeat (``TABLES``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from poagate.domain.events import ActivationKind
from poagate.domain.outcomes import ActivationRecord, Status
from poagate.domain.rules import Reason
from poagate.domain.values import value
from poagate.formats.records import ACTIVATION_FIELDS
from poagate.formats.timestamps import from_us, to_us
from poagate.store import NotVisible
from poagate.store.purge import Purge
from poagate.store.schema import OPEN_WINDOW_ROWS
from poagate.store.sqlbase import NULL_INT, NULL_TEXT, Database, Kept, opt_from_us, values_clause

TABLES = (Kept("activations", "last_received_at"),)

# The activation record's spec §7 fields, then what the gate needs to restore its state.
ACTIVATION_COLUMNS = (
    *ACTIVATION_FIELDS,
    "mpan",
    "network_operator",
    "last_received_at",
    "repeats",
    "command_variant",
    "firmware_hash",
    "ended_at",  # set only by an operator (``end_window``), never by an upsert
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
# Which columns may be NULL, and so are bound as a sentinel through NULLIF.
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
_COLUMNS = ",".join(ACTIVATION_COLUMNS)
_VALUES = values_clause(ACTIVATION_COLUMNS, ACTIVATION_NULLABLE_INT, ACTIVATION_NULLABLE_TEXT)
UPSERT_ACTIVATION = (
    f"INSERT INTO activations ({_COLUMNS}) VALUES ({_VALUES}) "
    "ON CONFLICT (request_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in ACTIVATION_MUTABLE)
)
_WINDOW = f"SELECT {_COLUMNS}, ended_by, end_note FROM activations"


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


def write(db: Database, rows: Sequence[tuple[Any, ...]]) -> None:
    """Upsert records (rows of ``ACTIVATION_COLUMNS``), inside the caller's transaction."""
    if rows:
        db.run_many(UPSERT_ACTIVATION, rows)


@value
class Window:
    """An activation and its window as operators see it: the record, and who ended it, why."""

    activation: ActivationRecord
    ended_by: str | None = None
    end_note: str | None = None


class WindowNotEndable(LookupError):  # noqa: N818 - a lookup that found nothing to end
    """The named activation has no window an operator can end; ``reason`` says why."""

    def __init__(self, request_id: str, reason: str, found: bool) -> None:
        super().__init__(f"{request_id}: {reason}")
        self.reason = reason
        self.found = found  # False: there is no activation with a window by that request_id


def _window(row: Sequence[Any]) -> Window:
    width = len(ACTIVATION_COLUMNS)
    return Window(decode_activation(row[:width]), row[width], row[width + 1])


class Activations:
    """See the module docstring."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- the gate's state ---------------------------------------------------------------------

    def records(self) -> Iterator[ActivationRecord]:
        """Every activation record, in first-seen order."""
        for row in self._db.stream(f"SELECT {_COLUMNS} FROM activations ORDER BY seq"):
            yield decode_activation(row)

    def activations_for(
        self, request_ids: Sequence[str], chf_ids: Sequence[str], device_ids: Sequence[str]
    ) -> list[ActivationRecord]:
        """The records an event group can read or change: by request_id, the windows of its
        CHFs, and the future-dated activations of its devices, in first-seen order."""
        db = self._db
        select = f"SELECT seq, {_COLUMNS} FROM activations"
        # Only the branches with keys: PostgreSQL estimates "= ANY('{}')" at a row and may
        # answer it by walking a whole index (every open window, 3 ms a group with 7,000).
        branches = [
            (f"{select} WHERE {{in:request_id}}", request_ids),
            (f"{select} WHERE {{in:chf_id}} AND window_start IS NOT NULL", chf_ids),
            (f"{select} WHERE {{in:device_id}} AND kind = 'future_dated'", device_ids),
        ]
        asked = [(sql, keys) for sql, keys in branches if keys]
        if not asked:
            return []
        rows = db.fetch(
            " UNION ".join(sql for sql, _ in asked) + " ORDER BY 1",
            [db.list_param(keys) for _, keys in asked],
        )
        return [decode_activation(row[1:]) for row in rows]

    # -- listing records ----------------------------------------------------------------------

    def page(
        self,
        *,
        device_id: str | None = None,
        status: str | None = None,
        after_request_id: str | None = None,
        limit: int = 100,
    ) -> list[ActivationRecord]:
        """Activation records in first-seen order, after the one named."""
        db = self._db
        after = 0
        if after_request_id is not None:
            seq = db.scalar("SELECT seq FROM activations WHERE request_id = ?", (after_request_id,))
            if seq is None:
                raise NotVisible(after_request_id)
            after = int(seq)
        where = ["seq > ?"]
        params: list[Any] = [after]
        if device_id is not None:
            where.append("device_id = ?")
            params.append(device_id)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        rows = db.fetch(
            f"SELECT {_COLUMNS} FROM activations WHERE "
            + " AND ".join(where)
            + f" ORDER BY seq LIMIT {int(limit)}",
            params,
        )
        return [decode_activation(row) for row in rows]

    def open_windows(self, at: datetime) -> int:
        """Windows that suppress at ``at``: of usable activations, not ended by an operator,
        containing ``at`` (the ``poagate_open_windows`` metric; ``poagate window list`` shows
        the same windows and those scheduled)."""
        moment = to_us(at)
        return int(
            self._db.scalar(
                f"SELECT COUNT(*) FROM activations WHERE {OPEN_WINDOW_ROWS} "
                "AND window_start <= ? AND window_end > ?",
                (moment, moment),
            )
        )

    def counts(self) -> dict[str, int]:
        """The activation figures of ``summary.json``."""
        activations, eligible = self._db.one(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE reason = 'eligible') FROM activations"
        ) or (0, 0)
        return {"activations": int(activations), "activations_eligible": int(eligible)}

    # -- windows, as operators list and end them (spec §12) -----------------------------------

    def window(self, request_id: str) -> Window | None:
        row = self._db.one(f"{_WINDOW} WHERE request_id = ?", (request_id,))
        return None if row is None else _window(row)

    def windows_page(
        self,
        *,
        open_at: datetime | None,
        chf_id: str | None = None,
        network_operators: frozenset[str] | None = None,
        after_request_id: str | None = None,
        limit: int = 100,
    ) -> list[Window]:
        """Windows in first-seen order after the one named: with ``open_at``, those that may
        still suppress then (not ended, not closed unused, ending after it — started or
        scheduled); without, every window ever opened."""
        db = self._db
        where = ["window_start IS NOT NULL"]
        params: list[Any] = []
        if after_request_id is not None:
            seq = db.scalar(
                "SELECT seq FROM activations WHERE request_id = ? AND window_start IS NOT NULL",
                (after_request_id,),
            )
            if seq is None:
                raise LookupError(after_request_id)
            where.append("seq > ?")
            params.append(int(seq))
        if open_at is not None:
            where += [OPEN_WINDOW_ROWS, "window_end > ?"]
            params.append(to_us(open_at))
        if chf_id is not None:
            where.append("chf_id = ?")
            params.append(chf_id)
        if network_operators is not None:
            where.append("{in:network_operator}")
            params.append(db.list_param(sorted(network_operators)))
        rows = db.fetch(
            f"{_WINDOW} WHERE " + " AND ".join(where) + f" ORDER BY seq LIMIT {int(limit)}",
            params,
        )
        return [_window(row) for row in rows]

    def end_window(self, request_id: str, at: datetime, actor: str, note: str | None) -> Window:
        """End a window from ``at`` (spec §12), inside the caller's transaction (or its own).
        Raises ``WindowNotEndable`` when there is none, or it is ended or closed unused."""
        db = self._db
        with db.transaction():
            found = self.window(request_id)
            if found is None or found.activation.window_start is None:
                reason = (
                    "no activation has that request_id"
                    if found is None
                    else f"the activation opened no window ({found.activation.reason})"
                )
                raise WindowNotEndable(request_id, reason, found=False)
            record = found.activation
            if record.ended_at is not None:
                raise WindowNotEndable(
                    request_id,
                    f"the window was already ended at {record.ended_at.isoformat()} "
                    f"by {found.ended_by}",
                    found=True,
                )
            if record.status.value != "active":
                raise WindowNotEndable(
                    request_id,
                    f"the window was closed unused: the activation is {record.status}",
                    found=True,
                )
            db.run(
                "UPDATE activations SET ended_at = ?, ended_by = ?, end_note = ? "
                "WHERE request_id = ? AND ended_at IS NULL",
                (to_us(at), actor, note, request_id),
            )
        ended = self.window(request_id)
        assert ended is not None
        return ended

    def windows_of_hub(
        self, chf_id: str, network_operators: frozenset[str] | None = None, limit: int = 100
    ) -> list[Window]:
        """Every activation whose ESME was joined to ``chf_id`` when first seen, eligible or
        not, the latest ``limit`` in first-seen order: what R5 looked at for the hub. With
        ``network_operators`` (a DNO's scope, spec §10), only those recorded under one of them:
        a hub whose meter moved area shows a DNO none of the other's activations."""
        where, params = "chf_id = ?", [chf_id]
        if network_operators is not None:
            where += " AND {in:network_operator}"
            params.append(self._db.list_param(sorted(network_operators)))
        rows = self._db.fetch(
            f"SELECT * FROM ({_WINDOW.replace('SELECT ', 'SELECT seq, ', 1)} "
            f"WHERE {where} ORDER BY seq DESC LIMIT {int(limit)}) AS latest ORDER BY seq",
            params,
        )
        return [_window(row[1:]) for row in rows]


def purges(now: int, guards_from: int) -> tuple[Purge, ...]:
    """What retention purges of the activations (spec §15): every activation whose last repeat
    is older than its retention, but never one whose window may still suppress (a window that
    ends after the earliest ``event_at`` a guard or an AD1 received now may still reach, or an
    execution still to come)."""
    return (
        Purge(
            "activations",
            "activations",
            "seq",
            "last_received_at",
            keep="status = 'active' AND (window_end >= ? OR execution_at >= ?)",
            keep_params=(guards_from, now),
        ),
    )
