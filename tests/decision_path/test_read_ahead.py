"""A group reads ahead of the writers' lock and confirms under it (``poagate.store.marks``):
whatever another server commits in between — a decision, an activation, a configuration — the
group decides from it, exactly as if it had read everything under the lock.

Each test decides one group through an ``Ingestor`` whose store runs another server's write
after the group's reads ahead and before its unit of work (on the fake, which does not read
ahead, just before its unit of work: the outcome must be the same)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from poagate.domain.outcomes import (
    ActivationApplied,
    DuplicateAlert,
    ForwardedAlert,
    SuppressionEntry,
)
from poagate.service.ingest import Ingestor, Item
from poagate.store.ports import ConfigSource, DecisionStore, DecisionUnit, GroupReads
from tests.decision_path.conftest import Backend, activation, ad1
from tests.helpers import ts


class WriteBetween:
    """A store that runs ``write`` once, after a group's reads ahead, before its unit of work,
    and counts the groups that read ahead."""

    def __init__(self, store: DecisionStore, write: Callable[[], object]) -> None:
        self._store = store
        self._write: Callable[[], object] | None = write
        self.read_ahead_groups = 0

    @property
    def reference(self) -> ConfigSource:
        return self._store.reference

    def read_ahead(self) -> GroupReads | None:
        reader = self._store.read_ahead()
        self.read_ahead_groups += reader is not None
        return reader

    def meta(self, key: str) -> str | None:
        return self._store.meta(key)

    def deciding(self) -> AbstractContextManager[DecisionUnit]:
        if self._write is not None:
            write, self._write = self._write, None
            write()
        return self._store.deciding()

    def close(self) -> None:
        self._store.close()


def decide_with_write_between(
    backend: Backend, write: Callable[[], object], *events: Any, at: str
) -> tuple[list[Any], WriteBetween]:
    """Decide ``events`` as one group at ``at`` on a store of their own, ``write`` (another
    server's) between the group's reads ahead and its unit of work."""
    backend.now = ts(at)
    opened: list[WriteBetween] = []

    def open_store() -> WriteBetween:
        opened.append(WriteBetween(backend.open_store(), write))
        return opened[-1]

    ingestor: Ingestor[Any] = Ingestor(
        open_store, lambda: backend.now, webhooks=lambda settings: frozenset({"10", "11"})
    )
    results = ingestor.decide_now(
        "test", [Item(n + 1, event, payload=b"{}") for n, event in enumerate(events)]
    )
    return [r.outcome for r in results], opened[0]


def _read_ahead_where_the_store_can(backend: Backend, store: WriteBetween) -> None:
    assert store.read_ahead_groups == (0 if backend.kind == "memory" else 1)


def test_an_alert_decided_by_another_server_meanwhile_is_a_duplicate(backend: Backend) -> None:
    def other_server() -> None:
        (first,) = backend.decide(ad1("A1", 1, "2026-03-01T10:05:00Z"), at="2026-03-01T10:05:00Z")
        assert type(first) is ForwardedAlert

    outcomes, store = decide_with_write_between(
        backend,
        other_server,
        ad1("A1", 1, "2026-03-01T10:05:00Z"),
        ad1("A2", 1, "2026-03-01T10:05:00Z"),
        at="2026-03-01T10:05:01Z",
    )
    _read_ahead_where_the_store_can(backend, store)
    assert [type(o) for o in outcomes] == [DuplicateAlert, ForwardedAlert]
    assert backend.seen.feed() == ["A1", "A2"]  # one outcome each (R6)


def test_a_window_opened_by_another_server_meanwhile_suppresses(backend: Backend) -> None:
    def other_server() -> None:
        (applied,) = backend.decide(
            activation(0, "2026-03-01T10:00:00Z"), at="2026-03-01T10:00:00Z"
        )
        assert type(applied) is ActivationApplied

    outcomes, store = decide_with_write_between(
        backend, other_server, ad1("S1", 0, "2026-03-01T10:05:00Z"), at="2026-03-01T10:05:00Z"
    )
    _read_ahead_where_the_store_can(backend, store)
    (outcome,) = outcomes
    assert type(outcome) is SuppressionEntry
    assert outcome.activation_request_id == activation(0, "2026-03-01T10:00:00Z").request_id


def test_suppression_suspended_meanwhile_forwards_the_group(backend: Backend) -> None:
    backend.decide(activation(0, "2026-03-01T10:00:00Z"), at="2026-03-01T10:00:00Z")
    outcomes, store = decide_with_write_between(
        backend,
        lambda: backend.configure(suppression_enabled=False),
        ad1("F1", 0, "2026-03-01T10:05:00Z"),
        at="2026-03-01T10:05:00Z",
    )
    _read_ahead_where_the_store_can(backend, store)
    (outcome,) = outcomes
    assert type(outcome) is ForwardedAlert  # the window is open, but suppression is off
    assert backend.seen.feed() == ["F1"]


def test_nothing_written_meanwhile_decides_from_what_was_read_ahead(backend: Backend) -> None:
    backend.decide(activation(0, "2026-03-01T10:00:00Z"), at="2026-03-01T10:00:00Z")
    outcomes, store = decide_with_write_between(
        backend,
        lambda: None,
        ad1("S1", 0, "2026-03-01T10:05:00Z"),
        ad1("F1", 1, "2026-03-01T10:05:00Z"),
        ad1("S1", 0, "2026-03-01T10:06:00Z"),  # repeated within the group
        at="2026-03-01T10:06:00Z",
    )
    _read_ahead_where_the_store_can(backend, store)
    assert [type(o) for o in outcomes] == [SuppressionEntry, ForwardedAlert, DuplicateAlert]


def test_a_configuration_changed_between_groups_is_read_again(backend: Backend) -> None:
    # One decider throughout: what it last confirmed is reused only while its marks hold.
    backend.decide(activation(0, "2026-03-01T10:00:00Z"), at="2026-03-01T10:00:00Z")
    (first,) = backend.decide(ad1("S1", 0, "2026-03-01T10:05:00Z"), at="2026-03-01T10:05:00Z")
    backend.configure(suppression_enabled=False)
    (second,) = backend.decide(ad1("F1", 0, "2026-03-01T10:06:00Z"), at="2026-03-01T10:06:00Z")
    backend.configure(suppression_enabled=True)
    (third,) = backend.decide(ad1("S2", 0, "2026-03-01T10:07:00Z"), at="2026-03-01T10:07:00Z")
    assert [type(o) for o in (first, second, third)] == [
        SuppressionEntry,
        ForwardedAlert,
        SuppressionEntry,
    ]
