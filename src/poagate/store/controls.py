"""The incident controls' store (spec §12): the windows operators list and end, who released
an entry and why, and what an explanation of one alert reads.

Suspending suppression is a setting (``reference.settings``); an operator's release is written
as a guard's is (``poagate.service.releases.record_releases``) and then signed here
(``sign_releases``). Every act records its audit entry in the transaction that makes it; the
acts themselves are composed in ``poagate.service.controls``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from poagate.domain.outcomes import ActivationRecord, ForwardedAlert, SuppressionEntry
from poagate.domain.values import value
from poagate.formats.timestamps import from_us, to_us
from poagate.store.codec import ACTIVATION_COLUMNS, AD1_COLUMNS, decode_activation, decode_ad1
from poagate.store.records import AuditEntry
from poagate.store.schema import OPEN_WINDOW_ROWS
from poagate.store.sqlbase import Database

_WINDOW = f"SELECT {','.join(ACTIVATION_COLUMNS)}, ended_by, end_note FROM activations"
_AD1 = ",".join(AD1_COLUMNS)


@value
class Window:
    """An activation and its window as operators see it: the record, and who ended it, why."""

    activation: ActivationRecord
    ended_by: str | None = None
    end_note: str | None = None


@value
class DecidedAlert:
    """One decided AD1 as an explanation reads it: the outcome, the sector it was stored with
    (area-outage on), who released it and why (an operator), how often it was repeated."""

    outcome: SuppressionEntry | ForwardedAlert
    sector: str | None
    released_by: str | None
    release_note: str | None
    duplicates: int


class WindowNotEndable(LookupError):  # noqa: N818 - a lookup that found nothing to end
    """The named activation has no window an operator can end; ``reason`` says why."""

    def __init__(self, request_id: str, reason: str, found: bool) -> None:
        super().__init__(f"{request_id}: {reason}")
        self.reason = reason
        self.found = found  # False: there is no activation with a window by that request_id


def _window(row: Sequence[Any]) -> Window:
    width = len(ACTIVATION_COLUMNS)
    return Window(decode_activation(row[:width]), row[width], row[width + 1])


class Controls:
    """See the module docstring."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- windows ------------------------------------------------------------------------------

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

    def windows_of_hub(self, chf_id: str, limit: int = 100) -> list[Window]:
        """Every activation whose ESME was joined to ``chf_id`` when first seen, eligible or
        not, the latest ``limit`` in first-seen order: what R5 looked at for the hub."""
        rows = self._db.fetch(
            f"SELECT * FROM ({_WINDOW.replace('SELECT ', 'SELECT seq, ', 1)} "
            f"WHERE chf_id = ? ORDER BY seq DESC LIMIT {int(limit)}) AS latest ORDER BY seq",
            (chf_id,),
        )
        return [_window(row[1:]) for row in rows]

    # -- releases -----------------------------------------------------------------------------

    def sign_releases(self, alert_ids: Sequence[str], actor: str, note: str | None) -> None:
        """Record who released these entries, and why (after ``record_releases``)."""
        if alert_ids:
            db = self._db
            db.run(
                "UPDATE ad1_outcomes SET released_by = ?, release_note = ? WHERE {in:alert_id}",
                (actor, note, db.list_param(list(alert_ids))),
            )

    def last_act(self, actions: Sequence[str]) -> AuditEntry | None:
        """The latest audit entry of one of ``actions`` (e.g. the last suspend or resume)."""
        db = self._db
        row = db.one(
            "SELECT seq, at, actor, action, detail FROM audit_log WHERE {in:action} "
            "ORDER BY seq DESC LIMIT 1",
            (db.list_param(list(actions)),),
        )
        if row is None:
            return None
        return AuditEntry(row[0], from_us(row[1]), row[2], row[3], orjson.loads(row[4]))

    # -- explaining one alert -----------------------------------------------------------------

    def decided(
        self, alert_id: str, network_operators: frozenset[str] | None
    ) -> DecidedAlert | None:
        """The AD1's outcome, if decided and ``network_operators`` (None: any) include its."""
        db = self._db
        where, params = ["alert_id = ?"], [alert_id]
        if network_operators is not None:
            where.append("{in:network_operator}")
            params.append(db.list_param(sorted(network_operators)))
        row = db.one(
            f"SELECT {_AD1}, sector, released_by, release_note FROM ad1_outcomes WHERE "
            + " AND ".join(where),
            params,
        )
        if row is None:
            return None
        width = len(AD1_COLUMNS)
        duplicates = int(
            db.scalar("SELECT COUNT(*) FROM ad1_duplicates WHERE alert_id = ?", (alert_id,))
        )
        return DecidedAlert(
            decode_ad1(row[:width]), row[width], row[width + 1], row[width + 2], duplicates
        )
