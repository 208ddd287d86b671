"""Deciding submitted messages durably, many requests to a transaction (group commit).

Requests hand their parsed items to ``Ingestor.submit`` and wait. One thread per process takes
whatever has queued up, loads from the database just the state those events can read or change
(the windows of their CHFs, their request_ids, the pending activations of their devices, which
alert_ids are decided, the devices and GUID-list entries concerned, and with area-outage on
what that guard needs: ``poagate.service.releases``), restores the domain's ``Gate`` from it,
decides every event in order, writes the outcomes, the outbox and any releases in one
transaction, commits, and only then answers every request of the group with each item's
``ItemResult`` (the API turns those into its answers). What it can, it reads ahead of the
writers' lock, outside the transaction, and confirms under the lock (``poagate.store.marks``):
the configuration, the inventory, the GUID list, the activations and which alert_ids are
decided. So:

* an answer is never sent before its decisions are durable;
* several server processes share one database correctly: writers are serialised by the store
  (see ``poagate.store.sqlbase``), and each transaction decides from what the database holds;
* the cost of a commit (an fsync, a PostgreSQL round trip) is shared by all the requests that
  arrived while the previous group was being committed;
* while one server's group holds the writers' lock, another server's next group reads ahead;
* one message that cannot be decided fails neither its group nor its request: when a group's
  transaction fails for any reason but an unreachable store, each request is decided alone,
  its items one transaction each, and an item that fails again is kept as rejected input;
* a store that cannot write (disk full, read-only, lost, no primary: ``StoreUnavailableError``)
  fails the whole group, nothing of it written, and every request of it is answered so (the
  API: 503). ``writable`` says whether this process's last write succeeded, which is what the
  API's readiness reports (spec §17); ``probe`` tries a write to find out again.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from poagate.domain.events import Event, Ignored
from poagate.domain.gate import Gate
from poagate.domain.outcomes import ForwardedAlert, Outcome, SuppressionEntry
from poagate.domain.reference import Config
from poagate.formats.errors import Rejection, truncate_raw
from poagate.formats.settings import Settings
from poagate.service.group_reads import GroupReading, Keys, Reads
from poagate.service.releases import deciding_config, holds, restore_area
from poagate.store import StoreUnavailableError
from poagate.store.outbox import OutboundMessage
from poagate.store.ports import DecisionStore, GroupUnit
from poagate.store.writer_lock import writer_work

log = logging.getLogger("poagate.ingest")

GROUP_LIMIT = 2_000  # items decided in one transaction at most
_T = TypeVar("_T")
S = TypeVar("S", bound=DecisionStore)  # the store a process decides on (the API's: ``Store``)


@dataclass(slots=True)
class Item:
    """One message of a request: what it parsed to, or why it could not be read."""

    position: int  # 1-based, within its request
    event: Event | Ignored | None
    error: str | None = None
    raw: bytes = b""  # the input as received, for the rejected-input record
    payload: bytes = b""  # the original message, byte for byte, for the DNO
    content_type: str = "application/json"


@dataclass(slots=True)
class ItemResult:
    """What became of one item: the gate's outcome, an ignored message, or (``outcome`` None)
    the reason it was rejected."""

    position: int
    outcome: Outcome | Ignored | None
    error: str | None = None


@dataclass(slots=True)
class Request:
    source: str  # how rejected items name where they came from
    items: list[Item]
    future: asyncio.Future[list[ItemResult]] | None = None
    loop: asyncio.AbstractEventLoop | None = None


class _Stop:
    """Put on the queue to stop the thread (after what is already queued before it)."""


_STOP = _Stop()


@dataclass(slots=True)
class Job(Generic[S]):
    """Other work for the writer connection (an admin change), run in turn with the groups."""

    work: Callable[[S], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    name: str = "other"  # what its write transactions count as (``store.writer_lock``)


class Ingestor(Generic[S]):
    """Group-commits submitted requests (see the module docstring)."""

    def __init__(
        self,
        open_store: Callable[[], S],
        clock: Callable[[], datetime],
        webhooks: Callable[[Settings], frozenset[str]] | None = None,
        observe: Callable[[list[ItemResult], float], None] | None = None,
        on_release: Callable[[list[SuppressionEntry]], None] | None = None,
    ) -> None:
        self._open_store = open_store
        self._clock = clock
        self._webhooks = webhooks or (lambda settings: frozenset())
        self._observe = observe
        self._on_release = on_release
        self._queue: queue.Queue[Request | Job[S] | _Stop] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._store: S | None = None
        self._reading = GroupReading()
        # Whether the last write on the writer connection succeeded: None until one is tried.
        self.writable: bool | None = None

    def start(self) -> None:
        self._store = self._open_store()
        self._thread = threading.Thread(target=self._run, name="poagate-ingest", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Decide everything already submitted, then stop."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        if self._store is not None:
            self._store.close()
            self._store = None

    async def submit(self, source: str, items: list[Item]) -> list[ItemResult]:
        """Decide ``items`` durably; what became of each, in order."""
        loop = asyncio.get_running_loop()
        request = Request(source, items, loop.create_future(), loop)
        self._queue.put(request)
        assert request.future is not None
        return await request.future

    async def call(self, work: Callable[[S], _T], name: str = "other") -> _T:
        """Run ``work(store)`` on the writer connection, in turn with the decisions; its write
        transactions count as ``name`` in the writers' lock metrics."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()
        self._queue.put(Job(work, future, loop, name))
        return await future

    async def probe(self, work: Callable[[S], object]) -> bool:
        """Whether the store takes a write now: ``work`` (a small write) on the writer
        connection, in turn with the decisions. It sets ``writable``."""
        try:
            await self.call(work)
        except StoreUnavailableError as exc:
            log.warning("the store cannot write: %s", exc)
            self.writable = False
        else:
            self.writable = True
        return self.writable

    def decide_now(self, source: str, items: list[Item]) -> list[ItemResult]:
        """Decide ``items`` in the calling thread (tests and tools without an event loop)."""
        store = self._store or self._open_store()
        try:
            return self._decide(store, [Request(source, items)])[0]
        finally:
            if self._store is None:
                store.close()

    # -- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        store = self._store
        assert store is not None
        waiting: Request | Job[S] | _Stop | None = None
        while True:
            first = waiting if waiting is not None else self._queue.get()
            waiting = None
            if isinstance(first, _Stop):
                break
            if isinstance(first, Job):
                self._run_job(store, first)
                continue
            group = [first]
            count = len(first.items)
            while count < GROUP_LIMIT:
                try:
                    following = self._queue.get_nowait()
                except queue.Empty:
                    break
                if not isinstance(following, Request):
                    waiting = following  # a job or the stop: after this group
                    break
                group.append(following)
                count += len(following.items)
            self._run_group(store, group)
        # Drain: whatever was submitted before stop is still decided.
        while True:
            try:
                leftover = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(leftover, Request):
                self._run_group(store, [leftover])
            elif isinstance(leftover, Job):
                self._run_job(store, leftover)

    def _run_group(self, store: S, group: list[Request]) -> None:
        with writer_work("decisions"):
            self._decide_group(store, group)

    def _decide_group(self, store: S, group: list[Request]) -> None:
        try:
            answers = self._decide(store, group)
        except StoreUnavailableError as exc:
            self.writable = False
            for request in group:
                _resolve(request, exc)
            return
        except Exception:
            log.exception("a group of %d requests failed; deciding its items alone", len(group))
            for request in group:
                try:
                    isolated = self._decide_isolated(store, request)
                except Exception as exc:
                    if isinstance(exc, StoreUnavailableError):
                        self.writable = False
                    _resolve(request, exc)
                else:
                    _resolve(request, isolated)
            return
        self.writable = True
        for request, answer in zip(group, answers, strict=True):
            _resolve(request, answer)

    def _decide_isolated(self, store: S, request: Request) -> list[ItemResult]:
        """A request of a group that failed: its items one transaction each, so that one item
        that cannot be decided is kept as rejected and the others are decided as ever."""
        results: list[ItemResult] = []
        for item in request.items:
            try:
                results += self._decide(store, [Request(request.source, [item])])[0]
            except StoreUnavailableError:
                raise
            except Exception as exc:
                log.exception("item %d of %s cannot be decided", item.position, request.source)
                error = (
                    f"poagate could not decide this message ({type(exc).__name__}); it is kept "
                    "as rejected input for DCC operations to look into"
                )
                kept = Item(item.position, None, error, raw=item.raw)
                results += self._decide(store, [Request(request.source, [kept])])[0]
        return results

    def _run_job(self, store: S, job: Job[S]) -> None:
        try:
            with writer_work(job.name):
                result: Any = job.work(store)
        except Exception as exc:
            if isinstance(exc, StoreUnavailableError):
                self.writable = False
            outcome: Any = exc
        else:
            outcome = result
        _settle(job.future, job.loop, outcome)

    def _decide(self, store: DecisionStore, group: Sequence[Request]) -> list[list[ItemResult]]:
        started = time.perf_counter()
        events = [item.event for request in group for item in request.items if item.event]
        keys = Keys.of(events)
        # Read ahead of the writers' lock what the group can (poagate.store.marks), so that
        # another server's group can decide meanwhile; confirmed, or read again, under it.
        reader = store.read_ahead()
        ahead = None if reader is None else self._reading.ahead(reader, keys)
        with store.deciding() as unit:
            reads = self._reading.confirm(unit, keys, ahead)
            settings = reads.settings  # the gate's config and the webhooks
            config = settings.gate_config()
            state = self._group_state(unit, config, keys, reads)
            pushed = self._webhooks(settings)
            outbound: list[OutboundMessage] = []
            # One decision time for the group: its items are decided in one transaction.
            now = self._clock()
            results = []
            for request in group:
                results.append(
                    [
                        self._decide_item(state.gate, unit, request.source, item, now)
                        for item in request.items
                    ]
                )
                outbound += _outbound(request.items, results[-1], pushed, holds(config))
            if state.sector_of is not None:
                unit.store_sectors(state.sector_of)
            unit.enqueue(outbound, now)
            # spec §9 area-outage: entries released by AD1s this group forwarded.
            released = state.gate.releases_due(now)
            unit.release(released, now)
        if released and self._on_release is not None:
            self._on_release(released)
        if self._observe is not None:
            self._observe([r for answer in results for r in answer], time.perf_counter() - started)
        return results

    def _group_state(self, unit: GroupUnit, config: Config, keys: Keys, reads: Reads) -> GroupState:
        """A gate restored with just what the group's events can read or change (see the
        module docstring), and the sector lookup when area-outage is on."""
        gate = Gate(reads.fleet, reads.guid_list, deciding_config(config))
        gate.restore(reads.activations, reads.decided)
        if config.area_outage_threshold is None:
            return GroupState(gate, None)
        # Area-outage reads each sector's recent AD1s, and stores each AD1 with its sector.
        sector_of = gate.guards.sector_of
        # Only an AD1 that may fall in a window needs its evidence.
        asked = set(keys.targets)
        opened = {
            d.chf_id for d in reads.fleet.devices.values() if d is not None and d.device_id in asked
        }
        times = [(a.chf_id, a.outage_at) for a in keys.alerts]
        restore_area(
            unit,
            gate.guards,
            [
                (sector_of(chf), chf, at)
                for chf, at in times
                if chf in opened or gate.windows_of(chf)
            ],
            [(sector_of(chf), at) for chf, at in times],
        )
        return GroupState(gate, sector_of)

    @staticmethod
    def _decide_item(
        gate: Gate, unit: GroupUnit, source: str, item: Item, now: datetime
    ) -> ItemResult:
        event = item.event
        if event is None:
            error = item.error or "unreadable"
            unit.add_rejected(Rejection(source, item.position, error, truncate_raw(item.raw)))
            return ItemResult(item.position, None, error)
        if isinstance(event, Ignored):
            unit.add_ignored(event, source, item.position)
            return ItemResult(item.position, event)
        outcome = gate.apply(event, now)
        unit.add(outcome, source, item.position)
        return ItemResult(item.position, outcome)


@dataclass(slots=True)
class GroupState:
    gate: Gate
    sector_of: Callable[[str], str | None] | None


def _outbound(
    items: Sequence[Item], results: Sequence[ItemResult], pushed: frozenset[str], held: bool
) -> list[OutboundMessage]:
    """The original messages of a request's AD1s for their DNOs' webhooks: every forwarded
    one, and while a guard may release them (``held``), the suppressed ones, kept held."""
    messages = []
    for item, result in zip(items, results, strict=True):
        outcome = result.outcome
        if type(outcome) is ForwardedAlert:
            status = "pending"
        elif type(outcome) is SuppressionEntry and held:
            status = "held"
        else:
            continue
        if outcome.network_operator in pushed:
            messages.append(
                OutboundMessage(
                    outcome.alert_id,
                    outcome.network_operator,
                    outcome.chf_id,
                    item.content_type,
                    item.payload,
                    status,
                )
            )
    return messages


def _resolve(request: Request, result: list[ItemResult] | BaseException) -> None:
    if request.future is not None and request.loop is not None:
        _settle(request.future, request.loop, result)


def _settle(future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop, result: Any) -> None:
    def settle() -> None:
        if future.done():
            return  # the client went away
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)

    loop.call_soon_threadsafe(settle)
