"""Persistence behind one small interface: what the gate decided, and the reference data in force.

``Store`` is what the service layer talks to; ``SqliteStore`` is the embedded default and a
PostgreSQL implementation follows the same protocol. A ``Batch`` is one unit of work: everything
in it is committed in one transaction or not at all, so a crash leaves the store at the end of
some earlier batch, never half-way through one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Protocol

from poagate.domain.gate import ActivationRecord, ForwardedAlert, SuppressionEntry
from poagate.domain.reference import Config, GuidList, GuidListVersion, Inventory
from poagate.domain.values import value
from poagate.formats.errors import Rejection
from poagate.formats.guid_list import GuidListFile
from poagate.formats.inventory import InventoryFile
from poagate.store.batch import Batch

__all__ = ["Batch", "InventoryLoad", "SourceState", "Store", "StoreError"]


class StoreError(RuntimeError):
    """The store cannot be used: unreachable, locked, or from a newer poagate."""


@value
class InventoryLoad:
    id: int
    loaded_at: datetime
    source: str
    sha256: str
    rows_read: int
    rows_accepted: int
    rows_rejected: int


@value
class SourceState:
    """An input file as the store knows it (see ``schema.sources``)."""

    id: int
    sha256: str
    name: str
    events_total: int
    events_done: int


class Store(Protocol):
    """What poagate needs from persistence."""

    def close(self) -> None: ...

    # Reference data and configuration ---------------------------------------------------------
    def config(self) -> Config: ...
    def save_config(self, config: Config, actor: str, at: datetime) -> bool: ...
    def inventory(self) -> Inventory: ...
    def last_inventory_load(self) -> InventoryLoad | None: ...
    def load_inventory(
        self, file: InventoryFile, source: str, sha256: str, at: datetime
    ) -> InventoryLoad: ...
    def guid_list(self) -> GuidList: ...
    def save_guid_list(
        self, file: GuidListFile, source: str, at: datetime
    ) -> tuple[GuidListVersion, bool]: ...

    # Replay sources and gate state ------------------------------------------------------------
    def source(self, sha256: str, name: str, events_total: int, at: datetime) -> SourceState: ...
    def activation_records(self) -> Iterator[ActivationRecord]: ...
    def decided_alert_ids(self) -> Iterator[str]: ...

    # The unit of work ---------------------------------------------------------------------------
    def commit(self, batch: Batch) -> None: ...

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
