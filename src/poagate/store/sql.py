"""The store's SQL, written once for SQLite and PostgreSQL.

``SqlStore`` holds every statement poagate runs; a backend (``SqliteStore``, ``PostgresStore``)
supplies a connection, transactions, placeholders and list parameters. Statements are written
with ``?`` placeholders and ``{in:column}`` for "column is one of a list", which each backend
renders in its own form (``IN (SELECT value FROM json_each(?))`` on SQLite, ``= ANY(%s)`` on
PostgreSQL) so that a statement keeps one cached plan whatever the list's length.

Writers are serialised: SQLite by ``BEGIN IMMEDIATE``, PostgreSQL by one transaction-scoped
advisory lock. Every transaction that decides therefore sees all earlier decisions, numbers
AD1 outcomes (``seq``) in commit order, and a reader paging by ``seq`` never skips a row that
commits late.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import orjson

from poagate.domain.events import Ignored
from poagate.domain.outcomes import (
    ActivationRecord,
    ForwardedAlert,
    SuppressionEntry,
    released_as_forwarded,
)
from poagate.domain.reference import Config, Device, GuidList, GuidListVersion, Inventory
from poagate.formats.errors import Rejection
from poagate.formats.guid_list import GuidListFile
from poagate.formats.inventory import InventoryFile
from poagate.formats.timestamps import from_us, to_us
from poagate.store.batch import Batch
from poagate.store.codec import (
    ACTIVATION_COLUMNS,
    ACTIVATION_MUTABLE,
    ACTIVATION_NULLABLE_INT,
    ACTIVATION_NULLABLE_TEXT,
    AD1_COLUMNS,
    DEVICE_COLUMNS,
    DEVICE_NULLABLE_TEXT,
    FORWARDED_COLUMNS,
    NULL_INT,
    NULL_TEXT,
    SUPPRESSED_COLUMNS,
    Rows,
    config_of,
    decode_activation,
    decode_ad1,
    decode_device,
    encode_batch,
    encode_config,
    encode_device,
    encode_rejected,
    opt_us,
)
from poagate.store.records import (
    AuditEntry,
    Delivery,
    InventoryLoad,
    SourceState,
    TokenRecord,
)
from poagate.store.schema import (
    EVIDENCE_ROWS,
    FEED_ROWS,
    LOG_ROWS,
    UNRELEASED_ROWS,
    WAITING_ROWS,
)

GUID_FILE_META = "guid_list_file_sha256"


def _values(
    columns: Sequence[str], nullable_int: Iterable[str] = (), nullable_text: Iterable[str] = ()
) -> str:
    ints, texts = set(nullable_int), set(nullable_text)
    return ",".join(
        f"NULLIF(?, {NULL_INT})" if c in ints else "NULLIF(?, '')" if c in texts else "?"
        for c in columns
    )


@dataclass(frozen=True)
class Insert:
    """An insert-only statement. Rows carry ``NULL_INT``/``NULL_TEXT`` where a value is NULL
    (cheap to bind on SQLite), turned into NULL by NULLIF — or, for PostgreSQL's COPY, by
    replacing the sentinels at ``nulls``; both are worked out once."""

    table: str
    columns: tuple[str, ...]
    nullable_int: frozenset[str] = frozenset()
    nullable_text: frozenset[str] = frozenset()

    @cached_property
    def sql(self) -> str:
        values = _values(self.columns, self.nullable_int, self.nullable_text)
        return f"INSERT INTO {self.table} ({','.join(self.columns)}) VALUES ({values})"

    @cached_property
    def nulls(self) -> tuple[tuple[int, Any], ...]:
        return tuple(
            (i, NULL_INT if c in self.nullable_int else NULL_TEXT)
            for i, c in enumerate(self.columns)
            if c in self.nullable_int or c in self.nullable_text
        )


FORWARDED = Insert("ad1_outcomes", FORWARDED_COLUMNS, nullable_text=frozenset({"sector"}))
SUPPRESSED = Insert("ad1_outcomes", SUPPRESSED_COLUMNS, nullable_text=frozenset({"mpan", "sector"}))
DUPLICATES = Insert(
    "ad1_duplicates",
    ("alert_id", "chf_id", "received_at", "source", "line"),
    frozenset({"line"}),
    frozenset({"source"}),
)
ACTIVATION_OUTCOMES = Insert(
    "activation_outcomes",
    ("device_id", "received_at", "request_id", "success"),
    frozenset({"success"}),
    frozenset({"request_id"}),
)
DEVICE_MESSAGES = Insert("device_messages", ("device_id", "received_at"))
IGNORED = Insert(
    "ignored_inputs",
    ("received_at", "what", "source", "line"),
    frozenset({"line"}),
    frozenset({"source"}),
)
REJECTED = Insert(
    "rejected_inputs", ("kind", "source", "line", "error", "raw"), frozenset({"line"})
)
GUID_ENTRIES = Insert("guid_list_entries", ("version", "device_id"))
OUTBOX = Insert(
    "outbox",
    (
        "alert_id",
        "network_operator",
        "chf_id",
        "content_type",
        "payload",
        "created_at",
        "next_attempt_at",
        "status",
        "attempts",
    ),
)
UPSERT_ACTIVATION = (
    f"INSERT INTO activations ({','.join(ACTIVATION_COLUMNS)}) "
    f"VALUES ({_values(ACTIVATION_COLUMNS, ACTIVATION_NULLABLE_INT, ACTIVATION_NULLABLE_TEXT)}) "
    "ON CONFLICT (request_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in ACTIVATION_MUTABLE)
)
UPSERT_DEVICE = (
    f"INSERT INTO devices ({','.join(DEVICE_COLUMNS)}, load_id) "
    f"VALUES ({_values(DEVICE_COLUMNS, nullable_text=DEVICE_NULLABLE_TEXT)}, ?) "
    "ON CONFLICT (device_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in (*DEVICE_COLUMNS[1:], "load_id"))
)
UPSERT_META = (
    "INSERT INTO meta (key, value) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_IN = re.compile(r"\{in:([a-z_.]+)\}")


class SqlStore(ABC):
    """Every statement of the store (see the module docstring); a backend supplies the rest."""

    _next_seq: int

    # -- what a backend supplies --------------------------------------------------------------

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the store is, safe to print (no password)."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """One write transaction, serialised with every other writer (re-entrant)."""

    @abstractmethod
    def _render(self, sql: str) -> str:
        """The statement in this backend's placeholder and list form (cached)."""

    @abstractmethod
    def _list_param(self, values: Sequence[Any]) -> Any:
        """The one parameter that stands for a ``{in:column}`` list."""

    @abstractmethod
    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]: ...

    @abstractmethod
    def _run(self, sql: str, params: Sequence[Any]) -> None: ...

    @abstractmethod
    def _run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def _insert(self, insert: Insert, rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows (a backend may have a faster path than a statement a row)."""
        if rows:
            self._run_many(insert.sql, rows)

    def limit_cache(self, mebibytes: int) -> None:  # noqa: B027 - a no-op unless overridden
        """Shrink this connection's cache when another process does the writing (if any)."""

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers ----------------------------------------------------------------------------------

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self._fetch(sql, params)
        return rows[0] if rows else None

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self._one(sql, params)
        return None if row is None else row[0]

    def _read_next_seq(self) -> int:
        """After every AD1's seq and every place in the feed (a release takes a number too)."""
        return int(
            self._scalar(
                "SELECT COALESCE(MAX(n), 0) + 1 FROM (SELECT MAX(seq) AS n FROM ad1_outcomes "
                f"UNION ALL SELECT MAX(feed_seq) FROM ad1_outcomes WHERE {FEED_ROWS}) AS tops"
            )
        )

    # -- meta -----------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        value = self._scalar("SELECT value FROM meta WHERE key = ?", (key,))
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self._run(UPSERT_META, (key, value))

    # -- configuration ----------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """The configuration in force as stored (the gate's fields and the service's)."""
        body = self._scalar("SELECT body FROM config_versions ORDER BY id DESC LIMIT 1")
        return {} if body is None else dict(orjson.loads(body))

    def config(self) -> Config:
        return config_of(self.settings())

    def save_settings(self, settings: dict[str, Any], actor: str, at: datetime) -> bool:
        """Record ``settings`` (a complete configuration body) as in force from ``at``."""
        body = orjson.dumps(settings, option=orjson.OPT_SORT_KEYS).decode()
        with self.transaction():
            current = self._scalar("SELECT body FROM config_versions ORDER BY id DESC LIMIT 1")
            if current is not None and orjson.loads(current) == settings:
                return False
            self._run(
                "INSERT INTO config_versions (set_at, actor, body) VALUES (?, ?, ?)",
                (to_us(at), actor, body),
            )
        return True

    def save_config(self, config: Config, actor: str, at: datetime) -> bool:
        """Record the gate's configuration, keeping the service's settings as they are."""
        current = self.settings()
        if not current and config == Config():
            return False  # the defaults are in force without a record
        return self.save_settings({**current, **orjson.loads(encode_config(config))}, actor, at)

    # -- inventory --------------------------------------------------------------------------------

    def inventory(self) -> Inventory:
        rows = self._stream(f"SELECT {','.join(DEVICE_COLUMNS)} FROM devices", ())
        return Inventory(decode_device(row) for row in rows)

    def last_inventory_load(self) -> InventoryLoad | None:
        row = self._one(
            "SELECT id, loaded_at, source, sha256, rows_read, rows_accepted, rows_rejected "
            "FROM inventory_loads ORDER BY id DESC LIMIT 1"
        )
        return None if row is None else InventoryLoad(row[0], from_us(row[1]), *row[2:])

    def inventory_rows(
        self, file: InventoryFile, source: str, sha256: str, at: datetime
    ) -> tuple[Rows, InventoryLoad]:
        """The rows that load ``file``: its record, its devices (each replacing the device's
        earlier row) and its rejected rows, for one transaction."""
        next_id = int(self._scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM inventory_loads"))
        load = InventoryLoad(
            next_id, at, source, sha256, file.rows_read, len(file.devices), len(file.rejected)
        )
        rows = Rows(
            inventory_load=(
                load.id,
                to_us(at),
                source,
                sha256,
                load.rows_read,
                load.rows_accepted,
                load.rows_rejected,
            ),
            devices=[encode_device(d, load.id) for d in file.devices],
            rejected=encode_rejected("inventory", file.rejected),
        )
        return rows, load

    def load_inventory(
        self, file: InventoryFile, source: str, sha256: str, at: datetime
    ) -> InventoryLoad:
        with self.transaction():
            rows, load = self.inventory_rows(file, source, sha256, at)
            self.write(rows)
        return load

    # -- GUID list --------------------------------------------------------------------------------

    def _guid_version(self) -> GuidListVersion | None:
        row = self._one(
            "SELECT number, loaded_at, entry_count, sha256 FROM guid_list_versions "
            "ORDER BY number DESC LIMIT 1"
        )
        return None if row is None else GuidListVersion(row[0], from_us(row[1]), row[2], row[3])

    def guid_list(self) -> GuidList:
        version = self._guid_version()
        if version is None:
            return GuidList(None, frozenset())
        devices = frozenset(
            r[0]
            for r in self._stream(
                "SELECT device_id FROM guid_list_entries WHERE version = ?", (version.number,)
            )
        )
        return GuidList(version, devices)

    def guid_list_versions(self) -> list[GuidListVersion]:
        return [
            GuidListVersion(r[0], from_us(r[1]), r[2], r[3])
            for r in self._fetch(
                "SELECT number, loaded_at, entry_count, sha256 FROM guid_list_versions "
                "ORDER BY number",
                (),
            )
        ]

    def guid_list_rows(
        self, file: GuidListFile, source: str, file_sha256: str, at: datetime
    ) -> tuple[Rows, GuidListVersion, bool]:
        """The rows that load a GUID list file: a new version unless its content (SHA-256 of
        the normalised Device IDs) is that of the version in force, and its rejected rows."""
        current = self._guid_version()
        rows = Rows(
            rejected=encode_rejected("guid_list", file.rejected),
            meta=[(GUID_FILE_META, file_sha256)],
        )
        if current is not None and current.sha256 == file.sha256:
            return rows, current, False
        number = 1 if current is None else current.number + 1
        version = GuidListVersion(number, at, len(file.devices), file.sha256)
        rows.guid_version = (number, to_us(at), source, version.entry_count, version.sha256)
        rows.guid_entries = [(number, d) for d in sorted(file.devices)]
        return rows, version, True

    def save_guid_list(
        self, file: GuidListFile, source: str, at: datetime, file_sha256: str = ""
    ) -> tuple[GuidListVersion, bool]:
        with self.transaction():
            rows, version, new = self.guid_list_rows(file, source, file_sha256, at)
            self.write(rows)
        return version, new

    def last_guid_list_file(self) -> str | None:
        """The SHA-256 of the GUID list file loaded last (its raw bytes)."""
        return self.meta(GUID_FILE_META)

    # -- replay sources and gate state ------------------------------------------------------------

    def source(self, sha256: str, name: str, events_total: int, at: datetime) -> SourceState:
        query = "SELECT id, sha256, name, events_total, events_done FROM sources WHERE sha256 = ?"
        row = self._one(query, (sha256,))
        if row is None:
            with self.transaction():
                self._run(
                    "INSERT INTO sources (sha256, name, first_seen, events_total, events_done) "
                    "VALUES (?, ?, ?, ?, 0)",
                    (sha256, name, to_us(at), events_total),
                )
            row = self._one(query, (sha256,))
            assert row is not None
        return SourceState(*row)

    def activation_records(self) -> Iterator[ActivationRecord]:
        for row in self._stream(
            f"SELECT {','.join(ACTIVATION_COLUMNS)} FROM activations ORDER BY seq", ()
        ):
            yield decode_activation(row)

    def decided_alert_ids(self) -> Iterator[str]:
        for (alert_id,) in self._stream("SELECT alert_id FROM ad1_outcomes", ()):
            yield alert_id

    # -- the unit of work -------------------------------------------------------------------------

    def encode(self, batch: Batch, sector_of: Callable[[str], str | None] | None = None) -> Rows:
        """The batch as rows, numbering its AD1 outcomes after those already stored.

        The replay's one writer keeps the count in memory; a decision made inside
        ``transaction`` (the service) reads it first (``refresh_sequence``)."""
        rows = encode_batch(batch, self._next_seq, sector_of)
        self._next_seq = rows.next_seq
        return rows

    def write(self, rows: Rows) -> None:
        """Write encoded rows in one transaction (or in the one already open)."""
        with self.transaction():
            if rows.inventory_load is not None:
                self._run(
                    "INSERT INTO inventory_loads (id, loaded_at, source, sha256, rows_read, "
                    "rows_accepted, rows_rejected) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows.inventory_load,
                )
            many = self._run_many
            if rows.devices:
                many(UPSERT_DEVICE, rows.devices)
            if rows.guid_version is not None:
                self._run(
                    "INSERT INTO guid_list_versions (number, loaded_at, source, entry_count, "
                    "sha256) VALUES (?, ?, ?, ?, ?)",
                    rows.guid_version,
                )
            if rows.meta:
                many(UPSERT_META, rows.meta)
            insert = self._insert
            insert(GUID_ENTRIES, rows.guid_entries)
            # A repeated alert_id here would be a bug upstream; UNIQUE(alert_id) stops it (R6).
            insert(FORWARDED, rows.forwarded)
            insert(SUPPRESSED, rows.suppressed)
            if rows.activations:
                many(UPSERT_ACTIVATION, rows.activations)
            insert(DUPLICATES, rows.duplicates)
            insert(ACTIVATION_OUTCOMES, rows.activation_outcomes)
            insert(DEVICE_MESSAGES, rows.device_messages)
            insert(IGNORED, rows.ignored)
            insert(REJECTED, rows.rejected)
            if rows.releases:
                # SPEC §7: an entry is never edited except to record its (one) release.
                many(
                    "UPDATE ad1_outcomes SET released_at = ?, release_reason = ?, feed_seq = ? "
                    "WHERE alert_id = ? AND suppressed = 1 AND released_at IS NULL",
                    rows.releases,
                )
            if rows.progress:
                many("UPDATE sources SET events_done = ? WHERE id = ?", rows.progress)

    def commit(self, batch: Batch) -> None:
        self.write(self.encode(batch))

    # -- deciding inside a transaction (the service) ------------------------------------------

    def refresh_sequence(self) -> None:
        """Continue AD1 numbering after what other processes committed (call inside
        ``transaction``, before ``encode``)."""
        self._next_seq = self._read_next_seq()

    def inventory_generation(self) -> int:
        """Changes whenever the devices do: every write to ``devices`` comes with a new
        ``inventory_loads`` row in the same transaction (``inventory_rows``)."""
        return int(self._scalar("SELECT COALESCE(MAX(id), 0) FROM inventory_loads"))

    def devices_for(self, device_ids: Sequence[str], chf_ids: Sequence[str]) -> list[Device]:
        """The devices an event group needs: its targets, and every ESME joined to its CHFs."""
        return [
            decode_device(row)
            for row in self._fetch(
                f"SELECT {','.join(DEVICE_COLUMNS)} FROM devices WHERE {{in:device_id}} "
                f"UNION SELECT {','.join(DEVICE_COLUMNS)} FROM devices "
                "WHERE {in:chf_id} AND device_type = 'ESME'",
                (self._list_param(device_ids), self._list_param(chf_ids)),
            )
        ]

    def guid_list_for(self, device_ids: Sequence[str]) -> GuidList:
        """The GUID list in force, as far as the given devices are concerned."""
        version = self._guid_version()
        if version is None:
            return GuidList(None, frozenset())
        members = self._fetch(
            "SELECT device_id FROM guid_list_entries WHERE version = ? AND {in:device_id}",
            (version.number, self._list_param(device_ids)),
        )
        return GuidList(version, frozenset(r[0] for r in members))

    def activations_for(
        self, request_ids: Sequence[str], chf_ids: Sequence[str], device_ids: Sequence[str]
    ) -> list[ActivationRecord]:
        """The records an event group can read or change: by request_id, the windows of its
        CHFs, and the future-dated activations of its devices, in first-seen order."""
        columns = ",".join(ACTIVATION_COLUMNS)
        rows = self._fetch(
            f"SELECT seq, {columns} FROM activations WHERE {{in:request_id}} "
            f"UNION SELECT seq, {columns} FROM activations "
            "WHERE {in:chf_id} AND window_start IS NOT NULL "
            f"UNION SELECT seq, {columns} FROM activations "
            "WHERE {in:device_id} AND kind = 'future_dated' "
            "ORDER BY 1",
            (
                self._list_param(request_ids),
                self._list_param(chf_ids),
                self._list_param(device_ids),
            ),
        )
        return [decode_activation(row[1:]) for row in rows]

    def decided_among(self, alert_ids: Sequence[str]) -> set[str]:
        return {
            r[0]
            for r in self._fetch(
                "SELECT alert_id FROM ad1_outcomes WHERE {in:alert_id}",
                (self._list_param(alert_ids),),
            )
        }

    def enqueue(self, deliveries: Sequence[tuple[Any, ...]]) -> None:
        """Queue AD1s for their DNOs (inside the decision's transaction): (alert_id,
        network_operator, chf_id, content_type, payload, created_at, due, status), status
        ``pending`` for a forwarded AD1 and ``held`` for a suppressed one a guard may release."""
        self._insert(OUTBOX, [(*d, 0) for d in deliveries])

    def release_deliveries(self, alert_ids: Sequence[str], at_us: int) -> None:
        """Released AD1s (SPEC §9): their held messages are due for delivery from ``at_us``."""
        if alert_ids:
            self._run(
                "UPDATE outbox SET status = 'pending', next_attempt_at = ? "
                "WHERE {in:alert_id} AND status = 'held'",
                (at_us, self._list_param(alert_ids)),
            )

    # -- the guards in the service (SPEC §9) --------------------------------------------------

    def waiting_entries(
        self, sectors: Sequence[str], from_us: int, to_us: int
    ) -> list[tuple[str, SuppressionEntry]]:
        """(sector, entry) of the unreleased Suppression Log entries of ``sectors`` with
        ``event_at`` in [from, to]: what a forwarded AD1 may release (area-outage)."""
        rows = self._fetch(
            f"SELECT sector, {','.join(AD1_COLUMNS)} FROM ad1_outcomes "
            f"WHERE {WAITING_ROWS} AND {{in:sector}} AND event_at >= ? AND event_at <= ? "
            "ORDER BY seq",
            (self._list_param(sectors), from_us, to_us),
        )
        return _sectored_entries(rows)

    def area_evidence(
        self, points: Iterable[tuple[str, str, int]], span_us: int, enough: int
    ) -> list[tuple[str, SuppressionEntry | ForwardedAlert]]:
        """(sector, outcome) of AD1s that reached their DNO (forwarded or released): for each
        point (sector, chf_id, event_at), at most ``enough`` of its sector from other CHFs
        with ``event_at`` within ``span_us`` of it — as many as area-outage needs to tell
        whether the point has its evidence, however many the storm brought. Each once."""
        found: dict[str, tuple[str, SuppressionEntry | ForwardedAlert]] = {}
        for row in self._evidence_rows(sorted(set(points)), span_us, enough):
            if row[1] not in found:
                found[row[1]] = (row[0], decode_ad1(row[1:]))
        return list(found.values())

    _EVIDENCE = (
        f"SELECT sector, {','.join(AD1_COLUMNS)} FROM ad1_outcomes "
        f"WHERE {EVIDENCE_ROWS} AND sector = ? AND event_at >= ? AND event_at <= ? "
        "AND chf_id <> ? LIMIT ?"
    )

    def _evidence_rows(
        self, points: Sequence[tuple[str, str, int]], span_us: int, enough: int
    ) -> Iterator[tuple[Any, ...]]:
        """The rows of ``area_evidence``: a statement a point (cheap in-process; a backend
        with round trips does better)."""
        for sector, chf_id, at in points:
            yield from self._fetch(
                self._EVIDENCE, (sector, at - span_us, at + span_us, chf_id, enough)
            )

    def dark_entries(
        self, after_seq: int, until_us: int, span_us: int
    ) -> list[tuple[str | None, SuppressionEntry]]:
        """(sector, entry) of the unreleased Suppression Log entries after ``after_seq`` with
        ``event_at`` at or before ``until_us`` whose hub showed no sign of life — no
        ``device_message`` or ``activation_outcome`` from the CHF or a device joined to it —
        after ``event_at`` and at most ``span_us`` after it (release-if-dark)."""
        dark = []
        for table in ("device_messages", "activation_outcomes"):
            window = "m.received_at > o.event_at AND m.received_at <= o.event_at + ?"
            dark.append(
                f"NOT EXISTS (SELECT 1 FROM {table} m WHERE m.device_id = o.chf_id AND {window})"
            )
            dark.append(
                f"NOT EXISTS (SELECT 1 FROM devices d JOIN {table} m "
                f"ON m.device_id = d.device_id WHERE d.chf_id = o.chf_id AND {window})"
            )
        rows = self._fetch(
            f"SELECT o.sector, {','.join('o.' + c for c in AD1_COLUMNS)} FROM ad1_outcomes o "
            f"WHERE {UNRELEASED_ROWS} AND o.seq > ? AND o.event_at <= ? AND "
            + " AND ".join(dark)
            + " ORDER BY o.seq",
            (after_seq, until_us, span_us, span_us, span_us, span_us),
        )
        return _sectored_entries(rows)

    def first_undue_seq(self, after_seq: int, until_us: int) -> int:
        """The seq before the first unreleased entry after ``after_seq`` whose ``event_at`` is
        after ``until_us`` (not yet due), or the last seq: how far release-if-dark is done."""
        undue = self._scalar(
            f"SELECT MIN(seq) FROM ad1_outcomes WHERE {UNRELEASED_ROWS} AND seq > ? "
            "AND event_at > ?",
            (after_seq, until_us),
        )
        return self.last_seq() if undue is None else int(undue) - 1

    def last_seq(self) -> int:
        return int(self._scalar("SELECT COALESCE(MAX(seq), 0) FROM ad1_outcomes"))

    # -- reads ------------------------------------------------------------------------------------

    def ad1_outcomes(
        self,
        *,
        suppressed: bool | None = None,
        network_operators: frozenset[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[SuppressionEntry | ForwardedAlert]:
        """Decided AD1s in decision order; ``received_at`` in [``since``, ``until``)."""
        for _seq, outcome in self.outcomes_page(
            suppressed=suppressed,
            network_operators=network_operators,
            since=since,
            until=until,
        ):
            yield outcome

    def outcomes_page(
        self,
        *,
        suppressed: bool | None = None,
        network_operators: frozenset[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        chf_id: str | None = None,
        mpan: str | None = None,
        request_id: str | None = None,
        after_seq: int = 0,
        limit: int | None = None,
    ) -> Iterator[tuple[int, SuppressionEntry | ForwardedAlert]]:
        """(seq, outcome) after ``after_seq`` in decision order, filtered."""
        where = ["seq > ?"]
        params: list[Any] = [after_seq]
        if suppressed is not None:
            where.append(LOG_ROWS if suppressed else "suppressed = 0")  # a literal: see schema
        if network_operators is not None:
            where.append("{in:network_operator}")
            params.append(self._list_param(sorted(network_operators)))
        for column, value in (
            ("chf_id", chf_id),
            ("mpan", mpan),
            ("activation_request_id", request_id),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            where.append("received_at >= ?")
            params.append(opt_us(since))
        if until is not None:
            where.append("received_at < ?")
            params.append(opt_us(until))
        sql = f"SELECT seq, {','.join(AD1_COLUMNS)} FROM ad1_outcomes WHERE " + " AND ".join(where)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        for row in self._stream(sql, params):
            yield row[0], decode_ad1(row[1:])

    def feed_page(
        self, network_operators: frozenset[str] | None, after_feed_seq: int = 0, limit: int = 100
    ) -> list[tuple[int, ForwardedAlert]]:
        """(feed_seq, forwarded AD1) after ``after_feed_seq`` in feed order: the AD1s forwarded
        at once, and the released Suppression Log entries as forwarded at their release."""
        where = [FEED_ROWS, "feed_seq > ?"]
        params: list[Any] = [after_feed_seq]
        if network_operators is not None:
            where.append("{in:network_operator}")
            params.append(self._list_param(sorted(network_operators)))
        rows = self._fetch(
            f"SELECT feed_seq, {','.join(AD1_COLUMNS)} FROM ad1_outcomes WHERE "
            + " AND ".join(where)
            + f" ORDER BY feed_seq LIMIT {int(limit)}",
            params,
        )
        page = []
        for row in rows:
            outcome = decode_ad1(row[1:])
            if type(outcome) is SuppressionEntry:
                outcome = released_as_forwarded(outcome)
            assert type(outcome) is ForwardedAlert
            page.append((int(row[0]), outcome))
        return page

    def feed_seq_of_alert(
        self, alert_id: str, network_operators: frozenset[str] | None
    ) -> int | None:
        """Where an AD1 stands in the forwarded feed, if it is there and the caller may see it."""
        sql = "SELECT feed_seq FROM ad1_outcomes WHERE alert_id = ? AND feed_seq IS NOT NULL"
        params: list[Any] = [alert_id]
        if network_operators is not None:
            sql += " AND {in:network_operator}"
            params.append(self._list_param(sorted(network_operators)))
        value = self._scalar(sql, params)
        return None if value is None else int(value)

    def log_seq_of_alert(
        self, alert_id: str, network_operators: frozenset[str] | None
    ) -> int | None:
        """Where a Suppression Log entry stands in decision order, if the caller may see it."""
        sql = f"SELECT seq FROM ad1_outcomes WHERE alert_id = ? AND {LOG_ROWS}"
        params: list[Any] = [alert_id]
        if network_operators is not None:
            sql += " AND {in:network_operator}"
            params.append(self._list_param(sorted(network_operators)))
        value = self._scalar(sql, params)
        return None if value is None else int(value)

    def activation_seq(self, request_id: str) -> int | None:
        value = self._scalar("SELECT seq FROM activations WHERE request_id = ?", (request_id,))
        return None if value is None else int(value)

    def activations_page(
        self,
        *,
        device_id: str | None = None,
        status: str | None = None,
        after_seq: int = 0,
        limit: int = 100,
    ) -> list[tuple[int, ActivationRecord]]:
        where = ["seq > ?"]
        params: list[Any] = [after_seq]
        if device_id is not None:
            where.append("device_id = ?")
            params.append(device_id)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        rows = self._fetch(
            f"SELECT seq, {','.join(ACTIVATION_COLUMNS)} FROM activations WHERE "
            + " AND ".join(where)
            + f" ORDER BY seq LIMIT {int(limit)}",
            params,
        )
        return [(row[0], decode_activation(row[1:])) for row in rows]

    def open_windows(self, at: datetime) -> int:
        """Windows of usable activations that contain ``at`` (for metrics)."""
        return int(
            self._scalar(
                "SELECT COUNT(*) FROM activations WHERE status = 'active' "
                "AND window_start <= ? AND window_end > ?",
                (to_us(at), to_us(at)),
            )
        )

    def rejected(self) -> Iterator[tuple[str, Rejection]]:
        for kind, source, line, error, raw in self._stream(
            "SELECT kind, source, line, error, raw FROM rejected_inputs ORDER BY seq", ()
        ):
            yield kind, Rejection(source, line, error, raw)

    def ignored(self) -> Iterator[tuple[Ignored, str | None, int | None]]:
        for received_at, what, source, line in self._stream(
            "SELECT received_at, what, source, line FROM ignored_inputs ORDER BY seq", ()
        ):
            yield Ignored(from_us(received_at), what), source, line

    def counts_by_network_operator(
        self, network_operators: frozenset[str] | None = None
    ) -> dict[str, tuple[int, int]]:
        """(suppressed, forwarded) AD1s per network operator ("" when unknown)."""
        sql = (
            "SELECT network_operator, COUNT(*) FILTER (WHERE suppressed = 1), "
            "COUNT(*) FILTER (WHERE suppressed = 0) FROM ad1_outcomes"
        )
        params: list[Any] = []
        if network_operators is not None:
            sql += " WHERE {in:network_operator}"
            params.append(self._list_param(sorted(network_operators)))
        sql += " GROUP BY network_operator ORDER BY network_operator"
        return {operator: (int(s), int(f)) for operator, s, f in self._fetch(sql, params)}

    def counts(self) -> dict[str, int]:
        """The figures of ``summary.json``, over everything the store holds."""
        suppressed, forwarded = self._one(
            "SELECT COUNT(*) FILTER (WHERE suppressed = 1), COUNT(*) FILTER (WHERE suppressed = 0) "
            "FROM ad1_outcomes"
        ) or (0, 0)
        activations, eligible = self._one(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE reason = 'eligible') FROM activations"
        ) or (0, 0)
        rejected_by_kind = dict(
            self._fetch("SELECT kind, COUNT(*) FROM rejected_inputs GROUP BY kind", ())
        )
        duplicates = int(self._scalar("SELECT COUNT(*) FROM ad1_duplicates"))
        suppressed, forwarded = int(suppressed), int(forwarded)
        return {
            "events_read": int(self._scalar("SELECT COALESCE(SUM(events_done), 0) FROM sources")),
            "events_rejected": int(rejected_by_kind.get("event", 0)),
            "activations": int(activations),
            "activations_eligible": int(eligible),
            "ad1_received": suppressed + forwarded + duplicates,
            "ad1_suppressed": suppressed,
            "ad1_forwarded": forwarded,
            "ad1_duplicates": duplicates,
            "ad1_released": int(
                self._scalar("SELECT COUNT(*) FROM ad1_outcomes WHERE released_at IS NOT NULL")
            ),
            "activation_outcomes": int(self._scalar("SELECT COUNT(*) FROM activation_outcomes")),
            "device_messages": int(self._scalar("SELECT COUNT(*) FROM device_messages")),
            "messages_ignored": int(self._scalar("SELECT COUNT(*) FROM ignored_inputs")),
            "inventory_rows_rejected": int(rejected_by_kind.get("inventory", 0)),
            "guid_list_rows_rejected": int(rejected_by_kind.get("guid_list", 0)),
        }

    def signs_of_life(self) -> Iterator[tuple[str, datetime]]:
        """Every message that shows a device had power: (device_id, received_at)."""
        for device_id, at in self._stream(
            "SELECT device_id, received_at FROM device_messages "
            "UNION ALL SELECT device_id, received_at FROM activation_outcomes",
            (),
        ):
            yield device_id, from_us(at)

    # -- tokens and audit ---------------------------------------------------------------------

    def add_token(
        self,
        token_sha256: str,
        role: str,
        network_operators: Sequence[str],
        description: str,
        at: datetime,
        actor: str,
    ) -> int:
        with self.transaction():
            self._run(
                "INSERT INTO api_tokens (token_sha256, role, network_operators, description, "
                "created_at) VALUES (?, ?, ?, ?, ?)",
                (token_sha256, role, ",".join(network_operators), description, to_us(at)),
            )
            token_id = int(
                self._scalar("SELECT id FROM api_tokens WHERE token_sha256 = ?", (token_sha256,))
            )
            self.audit(
                at,
                actor,
                "token.create",
                {
                    "token": token_id,
                    "role": role,
                    "network_operators": list(network_operators),
                    "description": description,
                },
            )
        return token_id

    def token(self, token_sha256: str) -> TokenRecord | None:
        row = self._one(
            "SELECT id, role, network_operators, description, created_at, revoked_at "
            "FROM api_tokens WHERE token_sha256 = ?",
            (token_sha256,),
        )
        return None if row is None else _token(row)

    def tokens(self) -> list[TokenRecord]:
        return [
            _token(row)
            for row in self._fetch(
                "SELECT id, role, network_operators, description, created_at, revoked_at "
                "FROM api_tokens ORDER BY id",
                (),
            )
        ]

    def revoke_token(self, token_id: int, at: datetime, actor: str) -> bool:
        with self.transaction():
            found = self._scalar(
                "SELECT id FROM api_tokens WHERE id = ? AND revoked_at IS NULL", (token_id,)
            )
            if found is None:
                return False
            self._run("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", (to_us(at), token_id))
            self.audit(at, actor, "token.revoke", {"token": token_id})
        return True

    def audit(self, at: datetime, actor: str, action: str, detail: dict[str, Any]) -> None:
        """Record a change (inside the transaction that makes it)."""
        with self.transaction():
            self._run(
                "INSERT INTO audit_log (at, actor, action, detail) VALUES (?, ?, ?, ?)",
                (to_us(at), actor, action, orjson.dumps(detail).decode()),
            )

    def audit_entries(self, after_seq: int = 0, limit: int = 100) -> list[AuditEntry]:
        return [
            AuditEntry(row[0], from_us(row[1]), row[2], row[3], orjson.loads(row[4]))
            for row in self._fetch(
                "SELECT seq, at, actor, action, detail FROM audit_log WHERE seq > ? "
                f"ORDER BY seq LIMIT {int(limit)}",
                (after_seq,),
            )
        ]

    # -- the outbox -------------------------------------------------------------------------------

    def claim_deliveries(self, now_us: int, lease_us: int, limit: int) -> list[Delivery]:
        """Claim deliveries that are due: for each CHF only its oldest undelivered one, so a
        DNO receives each hub's alerts in order. A claim lasts ``lease_us`` (then it is due
        again, should its claimer have died)."""
        with self.transaction():
            rows = self._fetch(
                "SELECT o.id, o.alert_id, o.network_operator, o.chf_id, o.content_type, "
                "o.payload, o.attempts FROM outbox o "
                "WHERE o.status = 'pending' AND o.next_attempt_at <= ? "
                "AND (o.lease_until IS NULL OR o.lease_until <= ?) "
                "AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.chf_id = o.chf_id "
                "AND p.status = 'pending' AND p.id < o.id) "
                f"ORDER BY o.id LIMIT {int(limit)}",
                (now_us, now_us),
            )
            if rows:
                self._run(
                    "UPDATE outbox SET lease_until = ? WHERE {in:id}",
                    (now_us + lease_us, self._list_param([r[0] for r in rows])),
                )
        return [Delivery(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), r[6]) for r in rows]

    def delivered(self, delivery_id: int, at_us: int) -> None:
        with self.transaction():
            self._run(
                "UPDATE outbox SET status = 'delivered', delivered_at = ?, lease_until = NULL, "
                "attempts = attempts + 1 WHERE id = ?",
                (at_us, delivery_id),
            )

    def delivery_failed(self, delivery_id: int, error: str, retry_at_us: int | None) -> None:
        """Record a failed attempt: due again at ``retry_at_us``, or dead (None)."""
        with self.transaction():
            if retry_at_us is None:
                self._run(
                    "UPDATE outbox SET status = 'dead', last_error = ?, lease_until = NULL, "
                    "attempts = attempts + 1 WHERE id = ?",
                    (error[:2000], delivery_id),
                )
            else:
                self._run(
                    "UPDATE outbox SET next_attempt_at = ?, last_error = ?, lease_until = NULL, "
                    "attempts = attempts + 1 WHERE id = ?",
                    (retry_at_us, error[:2000], delivery_id),
                )

    def deliveries(self, status: str, after_id: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._fetch(
            "SELECT id, alert_id, network_operator, chf_id, status, attempts, next_attempt_at, "
            "last_error, created_at, delivered_at FROM outbox WHERE status = ? AND id > ? "
            f"ORDER BY id LIMIT {int(limit)}",
            (status, after_id),
        )
        return [
            {
                "id": r[0],
                "alert_id": r[1],
                "network_operator": r[2],
                "chf_id": r[3],
                "status": r[4],
                "attempts": r[5],
                "next_attempt_at": from_us(r[6]),
                "last_error": r[7],
                "created_at": from_us(r[8]),
                "delivered_at": None if r[9] is None else from_us(r[9]),
            }
            for r in rows
        ]

    def retry_delivery(self, delivery_id: int, at: datetime, actor: str) -> bool:
        with self.transaction():
            found = self._scalar(
                "SELECT id FROM outbox WHERE id = ? AND status = 'dead'", (delivery_id,)
            )
            if found is None:
                return False
            self._run(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, "
                "lease_until = NULL WHERE id = ?",
                (to_us(at), delivery_id),
            )
            self.audit(at, actor, "delivery.retry", {"delivery": delivery_id})
        return True

    def delivery_counts(self) -> dict[str, int]:
        return {
            status: int(n)
            for status, n in self._fetch("SELECT status, COUNT(*) FROM outbox GROUP BY status", ())
        }


def _sectored_entries(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, SuppressionEntry]]:
    """(sector, entry) from rows of a sector then ``AD1_COLUMNS`` of Suppression Log entries."""
    entries = []
    for row in rows:
        entry = decode_ad1(row[1:])
        assert type(entry) is SuppressionEntry
        entries.append((row[0], entry))
    return entries


def _token(row: tuple[Any, ...]) -> TokenRecord:
    return TokenRecord(
        id=row[0],
        role=row[1],
        network_operators=frozenset(filter(None, row[2].split(","))),
        description=row[3],
        created_at=from_us(row[4]),
        revoked_at=None if row[5] is None else from_us(row[5]),
    )


def render_lists(sql: str, form: str) -> str:
    """Replace each ``{in:column}`` with ``form`` (a format with ``{column}``)."""
    return _IN.sub(lambda m: form.format(column=m.group(1)), sql)
