"""``poagate replay``: JSON Lines event files through the real gate into a store (spec §8).

The replay runs on the event clock: an event is decided at the moment the DSP received it, so
``decided_at`` is the event's ``received_at`` and a replay decides exactly as the live service
would have, whenever it is run. Everything it decides is committed in batches; a batch also
records how far each input file has been applied, so a replay killed part-way and run again
skips what was committed and decides the rest exactly as an uninterrupted run would have.

The output files describe every outcome in the store, not only this run's: outcomes already in
the store are written first, then this run's as they are decided.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast

import orjson

from poagate.domain.events import Event, Ignored
from poagate.domain.gate import Gate
from poagate.domain.outcomes import ForwardedAlert, SuppressionEntry, released_as_forwarded
from poagate.domain.reference import Config
from poagate.formats.config_file import GUARD_KEYS
from poagate.formats.errors import InputError, Rejection, truncate_raw
from poagate.formats.records import (
    activation_fields,
    json_line,
    outcome_line,
    rejection_fields,
    verification_fields,
)
from poagate.service.inputs import ScannedFile, merged, scan
from poagate.service.reference.loads import collector_paused, load_reference
from poagate.service.reference.replay_fleet import Lookahead, read_ahead, restore_gate
from poagate.service.writer import WriterProcess
from poagate.store.batch import Batch, Rows
from poagate.store.store import Store

# Below this much input a second process costs more to start than it saves.
WRITER_PROCESS_MIN_BYTES = 4 * 1024 * 1024


class Progress(Protocol):
    """Where long work reports how far it has got (the CLI shows Rich progress bars)."""

    def phase(self, description: str, total: int | None) -> None: ...
    def advance(self, amount: int) -> None: ...


class NoProgress:
    def phase(self, description: str, total: int | None) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class ReplayRequest:
    inventory: Path | None  # None: the inventory the store holds (spec §11)
    guid_list: Path
    events: list[Path]
    out: Path
    manufacturers: tuple[str, ...] | None = None
    window_minutes: int | None = None
    skew_tolerance_seconds: int | None = None
    # spec §9 guards: None keeps what is configured; 0 switches the guard off.
    release_after_minutes: int | None = None
    area_outage_threshold: int | None = None
    area_outage_seconds: int | None = None
    # spec §14 verification guard: V (None keeps what is configured; 0 switches it off), T, A.
    verify_after_minutes: int | None = None
    verify_timeout_minutes: int | None = None
    verify_attempts: int | None = None
    # Run the guards' clock on to here after the last event (a simulation's horizon); by
    # default the clock stops at the last event's received_at.
    release_until: datetime | None = None
    batch_size: int = 50_000
    # Commit in a second process (see poagate.service.writer); None decides by input size.
    writer_process: bool | None = None


@dataclass(slots=True)
class ReplayReport:
    summary: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


# The options that replace configured values: named as the configuration's fields.
CONFIG_OPTIONS = ("manufacturers", "window_minutes", "skew_tolerance_seconds", *GUARD_KEYS)


def effective_config(store: Store, request: ReplayRequest) -> Config:
    """The configured values with the command's options in their place (spec §8)."""
    current = store.reference.config()
    given = {name: getattr(request, name) for name in CONFIG_OPTIONS}
    changes = {name: value for name, value in given.items() if value is not None}
    for guard in ("release_after_minutes", "area_outage_threshold", "verify_after_minutes"):
        if changes.get(guard) == 0:
            changes[guard] = None  # 0 switches the guard off
    return replace(current, **changes)


def write_outcome_files(store: Store, out: Path) -> None:
    """``suppression_log.jsonl`` and ``forwarded.jsonl`` from what the store holds: every entry
    (released ones with ``released_at``), and every forwarded AD1 with the released ones after
    it, forwarded at their release."""
    with (
        (out / "forwarded.jsonl").open("wb") as forwarded,
        (out / "suppression_log.jsonl").open("wb") as suppressed,
    ):
        released: list[SuppressionEntry] = []
        for outcome in store.listings.ad1_outcomes():
            if type(outcome) is SuppressionEntry:
                suppressed.write(outcome_line(outcome))
                if outcome.released_at is not None:
                    released.append(outcome)
            else:
                forwarded.write(outcome_line(outcome))
        released.sort(key=lambda e: (e.released_at, e.alert_id))
        for entry in released:
            forwarded.write(outcome_line(released_as_forwarded(entry)))


def replay(
    store: Store,
    request: ReplayRequest,
    progress: Progress | None = None,
    clock: Callable[[], datetime] = wall_clock,
) -> ReplayReport:
    """Replay ``request`` into ``store`` (see the module docstring), phase by phase."""
    progress = progress or NoProgress()
    with collector_paused(), ExitStack() as stack:
        started = time.perf_counter()
        now = clock()
        try:
            config = effective_config(store, request)
            store.reference.save_config(config, "replay", now)
        except ValueError as exc:  # the store keeps only what PUT /v1/config would accept
            raise InputError(f"the gate settings cannot be used: {exc}") from None
        inputs = scan_inputs(store, request, progress, now)
        progress.phase("Loading the inventory and GUID list", None)
        reference = load_reference(store, request.inventory, request.guid_list, now)
        write = open_writer(store, request, inputs, stack)
        progress.phase("Restoring gate state", None)
        gate = restore_gate(store, config)
        request.out.mkdir(parents=True, exist_ok=True)
        processed = decide_events(store, request, inputs, gate, write, progress, stack)
        write_other_outputs(store, request.out, gate, progress)
        summary = summarise(store, inputs, config, reference, processed, started)
        (request.out / "summary.json").write_bytes(
            orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
        )
        return ReplayReport(summary, inputs.warnings)


@dataclass(slots=True)
class Inputs:
    """The event files a replay reads (each once), and how much of each is already applied."""

    files: list[ScannedFile]
    source_ids: list[int]
    skips: list[int]  # events of each file already applied by an earlier run
    writer_process: bool
    warnings: list[str]

    @property
    def names(self) -> list[str]:
        return [str(f.path) for f in self.files]


def scan_inputs(store: Store, request: ReplayRequest, progress: Progress, now: datetime) -> Inputs:
    """The first pass over the event files: their hashes, sizes and order; files with the same
    content are read once; what an earlier run applied is skipped."""
    files: list[ScannedFile] = []
    seen: dict[str, Path] = {}
    warnings: list[str] = []
    progress.phase("Scanning event files", len(request.events))
    for path in request.events:
        scanned = scan(path, len(files))
        progress.advance(1)
        if scanned.sha256 in seen:
            warnings.append(
                f"{path} has the same content as {seen[scanned.sha256]}; it is read once"
            )
            continue
        seen[scanned.sha256] = path
        files.append(scanned)
    sources = [store.inputs.source(f.sha256, str(f.path), f.events, now) for f in files]
    use_writer = request.writer_process
    if use_writer is None:
        size = sum(p.stat().st_size for p in request.events)
        use_writer = size >= WRITER_PROCESS_MIN_BYTES and (os.cpu_count() or 1) > 1
    return Inputs(
        files,
        [s.id for s in sources],
        [min(s.events_done, f.events) for s, f in zip(sources, files, strict=True)],
        use_writer,
        warnings,
    )


def open_writer(
    store: Store, request: ReplayRequest, inputs: Inputs, stack: ExitStack
) -> Callable[[Rows], None]:
    """Where prepared batches go: the store, or a writer process that commits them while the
    gate decides the next (see ``poagate.service.writer``)."""
    if not inputs.writer_process:
        return store.decisions.write
    writer = WriterProcess(Path(store.location))
    stack.callback(writer.abandon)  # after an error; a no-op once it has been closed
    stack.enter_context(_closing_writer(writer))
    store.db.limit_cache(8)  # this process only reads now; the writer has its own cache
    return writer.submit


@contextmanager
def _closing_writer(writer: WriterProcess) -> Iterator[None]:
    """Wait for the writer to commit everything when the replay ends without an error."""
    yield
    writer.close()


def decide_events(
    store: Store,
    request: ReplayRequest,
    inputs: Inputs,
    gate: Gate,
    write: Callable[[Rows], None],
    progress: Progress,
    stack: ExitStack,
) -> int:
    """Decide every event not yet applied, in spec §5 order, committing in batches; write the
    Suppression Log and the forwarded AD1s as they are decided. How many events it read."""
    guarded = gate.guards.active
    out = request.out
    # With a guard on, releases edit entries already written: both files are written from the
    # store at the end instead (write_outcome_files), and the lines made on the way go nowhere.
    forwarded_out = stack.enter_context(
        open(os.devnull if guarded else out / "forwarded.jsonl", "wb")  # noqa: SIM115
    )
    suppressed_out = stack.enter_context(
        open(os.devnull if guarded else out / "suppression_log.jsonl", "wb")  # noqa: SIM115
    )
    if not guarded:
        progress.phase("Writing earlier outcomes", None)
        for earlier in store.listings.ad1_outcomes():
            stream = suppressed_out if type(earlier) is SuppressionEntry else forwarded_out
            stream.write(outcome_line(earlier))

    progress.phase("Replaying events", sum(f.events for f in inputs.files) - sum(inputs.skips))
    names, done = inputs.names, list(inputs.skips)
    # Each AD1's sector is stored when area-outage is on, for a server to read its evidence.
    sector_of = gate.guards.sector_of if gate.guards.area_threshold is not None else None

    def commit(batch: Batch) -> None:
        batch.progress = dict(zip(inputs.source_ids, done, strict=True))
        # spec §14: the requests sent and settled by this batch's events, committed with them.
        batch.verifications += gate.verification_requests()
        write(store.decisions.prepare(batch, sector_of))
        progress.advance(batch.events)

    batch = Batch()
    guard_clock: datetime | None = None  # the guards' clock: the last event's received_at
    batch_size = request.batch_size
    decide = gate.apply
    processed = 0
    lookahead = Lookahead(store, gate)
    for _key, index, line_number, raw, parsed in read_ahead(
        merged(inputs.files, inputs.skips), lookahead
    ):
        if type(parsed) is InputError:
            batch.add_rejected(Rejection(names[index], line_number, str(parsed), truncate_raw(raw)))
        elif type(parsed) is Ignored:
            batch.add_ignored(parsed, names[index], line_number)
        else:
            event = cast(Event, parsed)
            if guarded:
                # spec §9: the guards' releases that fell due strictly before this event, by its
                # clock: a sign of life received exactly at event_at + M is still in time, so a
                # moment passes only once every event received at it has been read.
                guard_clock = event.received_at
                batch.releases += gate.releases_due(guard_clock, inclusive=False)
            # The event clock: decided at the moment the DSP received the event.
            outcome = decide(event, event.received_at)
            batch.add(outcome, names[index], line_number)
            if guarded:
                # An AD1 forwarded now may be the area-outage evidence that releases others:
                # those releases go in this event's batch, so a crash cannot part them.
                batch.releases += gate.releases_due(event.received_at, inclusive=False)
            kind = type(outcome)
            if kind is ForwardedAlert:
                forwarded_out.write(outcome_line(outcome))  # type: ignore[arg-type]
            elif kind is SuppressionEntry:
                suppressed_out.write(outcome_line(outcome))  # type: ignore[arg-type]
        done[index] += 1
        if batch.events >= batch_size:
            processed += batch.events
            commit(batch)
            batch = Batch()
    if guarded and guard_clock is None:
        # A resumed run that read no new event: the releases due at the end of the input are
        # those of the last event the store holds (an earlier run committed every event, then
        # was stopped before the end-of-input releases).
        guard_clock = store.last_event_at()
    until = request.release_until or guard_clock
    if guarded and until is not None:
        batch.releases += gate.releases_due(until)
    processed += batch.events
    commit(batch)
    stack.close()  # the writer has committed every batch; the output files are complete
    if guarded:
        # Releases edit earlier entries: write both files again from what is stored.
        progress.phase("Writing the Suppression Log and forwarded alerts", None)
        write_outcome_files(store, out)
    return processed


def write_other_outputs(store: Store, out: Path, gate: Gate, progress: Progress) -> None:
    """``activations.jsonl``, ``rejected.jsonl`` and ``verifications.jsonl`` (spec §14): every
    record the store holds."""
    progress.phase("Writing activations, rejections and summary", None)
    with (out / "verifications.jsonl").open("wb") as stream:
        for request in store.verifications.all():
            stream.write(json_line(verification_fields(request)))
    with (out / "activations.jsonl").open("wb") as stream:
        for record in gate.activation_records():
            stream.write(json_line(activation_fields(record)))
    with (out / "rejected.jsonl").open("wb") as stream:
        for _kind, rejection in store.inputs.rejected():
            stream.write(json_line(rejection_fields(rejection)))


def summarise(
    store: Store,
    inputs: Inputs,
    config: Config,
    reference: dict[str, Any],
    processed: int,
    started: float,
) -> dict[str, Any]:
    """``summary.json``: the counts over everything stored, and this run's details."""
    elapsed = time.perf_counter() - started
    summary: dict[str, Any] = store.counts()
    summary.update(store.verifications.counts())
    summary["run"] = {
        "events_processed": processed,
        "events_already_applied": sum(inputs.skips),
        "files": [
            {
                "name": str(f.path),
                "sha256": f.sha256,
                "events": f.events,
                "in_received_at_order": f.in_order,
                "already_applied": skip,
            }
            for f, skip in zip(inputs.files, inputs.skips, strict=True)
        ],
        "config": {
            "manufacturers": list(config.manufacturers),
            "window_minutes": config.window_minutes,
            "skew_tolerance_seconds": config.skew_tolerance_seconds,
        },
        **reference,
        "writer_process": inputs.writer_process,
        "seconds": round(elapsed, 3),
        "events_per_second": round(processed / elapsed) if elapsed > 0 else None,
        "warnings": inputs.warnings,
    }
    return summary
