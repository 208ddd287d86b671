"""Persistence behind one small interface: what the gate decided, and the reference data in force.

``Store`` is what the service layer talks to; ``SqliteStore`` is the embedded default and a
PostgreSQL implementation follows the same protocol. A ``Batch`` is one unit of work: everything
in it is committed in one transaction or not at all, so a crash leaves the store at the end of
some earlier batch, never half-way through one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Protocol

from poagate.domain.outcomes import ActivationRecord, ForwardedAlert, SuppressionEntry
from poagate.domain.reference import Config, GuidList, GuidListVersion, Inventory
from poagate.formats.errors import Rejection
from poagate.formats.guid_list import GuidListFile
from poagate.formats.inventory import InventoryFile
from poagate.store.batch import Batch
from poagate.store.codec import Rows
from poagate.store.records import InventoryLoad, SourceState

__all__ = [
    "Batch",
    "InventoryLoad",
    "Rows",
    "SourceState",
    "Store",
    "StoreError",
    "StoreUnavailableError",
]


class StoreError(RuntimeError):
    """The store cannot be used: unreachable, locked, or from a newer poagate."""


class StoreUnavailableError(StoreError):
    """The database cannot be reached or is too busy now; trying again later may succeed."""


class Store(Protocol):
    """What the service layer needs from persistence (``SqliteStore`` implements it).

    Writes go through ``write(rows)``: one transaction per call. ``encode`` numbers a batch's
    AD1 outcomes after those already stored, so it must be called in commit order by the one
    process that decides (the store's lock guarantees there is only one).
    """

    @property
    def location(self) -> str: ...
    def close(self) -> None: ...
    def meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...

    # Reference data and configuration ---------------------------------------------------------
    def config(self) -> Config: ...
    def save_config(self, config: Config, actor: str, at: datetime) -> bool: ...
    def inventory(self) -> Inventory: ...
    def last_inventory_load(self) -> InventoryLoad | None: ...
    def inventory_rows(
        self, file: InventoryFile, source: str, sha256: str, at: datetime
    ) -> tuple[Rows, InventoryLoad]: ...
    def guid_list(self) -> GuidList: ...
    def guid_list_rows(
        self, file: GuidListFile, source: str, file_sha256: str, at: datetime
    ) -> tuple[Rows, GuidListVersion, bool]: ...
    def last_guid_list_file(self) -> str | None: ...

    # Replay sources and gate state ------------------------------------------------------------
    def source(self, sha256: str, name: str, events_total: int, at: datetime) -> SourceState: ...
    def activation_records(self) -> Iterator[ActivationRecord]: ...
    def decided_alert_ids(self) -> Iterator[str]: ...

    # The unit of work ---------------------------------------------------------------------------
    def encode(
        self, batch: Batch, sector_of: Callable[[str], str | None] | None = None
    ) -> Rows: ...
    def write(self, rows: Rows) -> None: ...
    def commit(self, batch: Batch) -> None: ...
    def limit_cache(self, mebibytes: int) -> None: ...

    # Reads ----------------------------------------------------------------------------------
    def ad1_outcomes(
        self,
        *,
        suppressed: bool | None = None,
        network_operators: frozenset[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[SuppressionEntry | ForwardedAlert]: ...
    def rejected(self) -> Iterator[tuple[str, Rejection]]: ...
    def counts(self) -> dict[str, int]: ...
    def signs_of_life(self) -> Iterator[tuple[str, datetime]]: ...
    def counts_by_network_operator(self) -> dict[str, tuple[int, int]]: ...
