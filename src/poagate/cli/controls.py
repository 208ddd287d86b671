"""The incident controls on the command line (spec §12): ``poagate suspend``, ``resume``,
``window list|end``, ``release``, ``alert explain``.

They act on the store directly, as the HTTP API does (``poagate.service.controls``), so they
work with or without a server running: each act is one transaction, serialised with the
servers' decisions, audited with the actor ``command line (<user>)`` and the channel cli.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from poagate.cli.shared import FAILURE, DatabaseOption, actor, fail, out, store_errors
from poagate.domain.ids import IdentifierError

window_app = typer.Typer(help="List and end suppression windows.", no_args_is_help=True)
alert_app = typer.Typer(help="Explain what became of an AD1.", no_args_is_help=True)

Note = Annotated[
    str | None, typer.Option(help="Why (kept in the audit log and shown on what it touched).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def now() -> datetime:
    return datetime.now(UTC)


def print_json(value: Any) -> None:
    import orjson

    print(orjson.dumps(value, option=orjson.OPT_UTC_Z | orjson.OPT_INDENT_2).decode())


def _switch(enabled: bool, note: str | None, database: str | None) -> None:
    from poagate.service.controls import set_suppression
    from poagate.store.database import open_store

    try:
        with store_errors(), open_store(database, "service") as store:
            state, changed = set_suppression(store, enabled, actor(), now(), note)
    except ValueError as exc:
        fail(str(exc))
    word = "suppressing" if state.enabled else "suspended: every AD1 is forwarded"
    if changed:
        out.print(f"poagate is {word} (from {state.changed_at:%Y-%m-%dT%H:%M:%SZ})")
    else:
        out.print(f"poagate was already {word}; nothing changed", highlight=False)


def suspend(note: Note = None, database: DatabaseOption = None) -> None:
    """Suspend suppression: every AD1 is forwarded (reason suppression_suspended) until
    resume; activations are still recorded and windows still opened."""
    _switch(False, note, database)


def resume(note: Note = None, database: DatabaseOption = None) -> None:
    """Resume suppression: the windows open now suppress again at once."""
    _switch(True, note, database)


@window_app.command("list")
def window_list(
    all_windows: Annotated[
        bool, typer.Option("--all", help="Every window ever opened, not only the open ones.")
    ] = False,
    chf_id: Annotated[str | None, typer.Option(help="Only this hub's windows.")] = None,
    network_operator: Annotated[str | None, typer.Option(help="Only this DNO's.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 1000,
    as_json: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """List the windows that may still suppress (open now, or scheduled), oldest first."""
    from poagate.domain.ids import parse_device_id, parse_network_operator
    from poagate.service.controls import suppression_state, window_view
    from poagate.store.database import open_store

    try:
        hub = None if chf_id is None else parse_device_id(chf_id)
        scope = None if network_operator is None else {parse_network_operator(network_operator)}
    except IdentifierError as exc:
        fail(str(exc))
    moment = now()
    with store_errors(), open_store(database, "read") as store:
        found = store.activations.windows_page(
            open_at=None if all_windows else moment,
            chf_id=hub,
            network_operators=None if scope is None else frozenset(scope),
            limit=limit,
        )
        switch = suppression_state(store)
    views = [window_view(w, moment) for w in found]
    if as_json:
        print_json(views)
        return
    # Plain columns, never cut nor wrapped at any terminal width: a request_id is copied from
    # here into `poagate window end` (spec §17).
    rows = [("request_id", "hub", "DNO", "state", "start", "end", "ended by")]
    rows += [
        (
            v.request_id,
            v.chf_id or "",
            v.network_operator,
            v.state,
            _time(v.window_start),
            _time(v.window_end),
            v.ended_by or "",
        )
        for v in views
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    out.print(f"{len(views):,} windows", highlight=False)
    state = "on" if switch.enabled else "SUSPENDED: every AD1 is forwarded"
    since = "" if switch.changed_at is None else f" since {_time(switch.changed_at)}"
    who = "" if switch.changed_by is None else f" ({switch.changed_by})"
    out.print(f"suppression {state}{since}{who}", highlight=False, markup=False)


def _time(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment:%Y-%m-%dT%H:%M:%SZ}"


@window_app.command("end")
def window_end(
    request_id: Annotated[str, typer.Argument(help="The activation's request_id.")],
    note: Note = None,
    database: DatabaseOption = None,
) -> None:
    """End a window: from now on it suppresses no AD1 received."""
    from poagate.formats.errors import InputError
    from poagate.formats.jsonl import request_id as canonical
    from poagate.service.controls import end_window
    from poagate.store.activations import WindowNotEndable
    from poagate.store.database import open_store

    try:
        wanted = canonical(request_id)
    except InputError as exc:
        fail(str(exc))
    try:
        with store_errors(), open_store(database, "service") as store:
            window = end_window(store, wanted, actor(), now(), note)
    except WindowNotEndable as exc:
        fail(f"{wanted}: {exc.reason}", FAILURE)
    except ValueError as exc:
        fail(str(exc))
    out.print(f"window of {wanted} ended at {_time(window.activation.ended_at)}", highlight=False)


def release(
    alert_id: Annotated[
        list[str] | None, typer.Option(help="An alert to release (repeatable).")
    ] = None,
    chf_id: Annotated[str | None, typer.Option(help="Release this hub's entries.")] = None,
    network_operator: Annotated[
        str | None, typer.Option(help="Release this DNO's entries (with --from and --to).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--from", help="AD1s received at or after this time.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="AD1s received before this time.")
    ] = None,
    note: Note = None,
    dry_run: Annotated[bool, typer.Option(help="Count what would be released.")] = False,
    database: DatabaseOption = None,
) -> None:
    """Release Suppression Log entries to their DNOs, as a guard's release: by alert id, by
    hub, or by DNO and a range of received_at."""
    from poagate.service.controls import ReleaseRequest
    from poagate.service.controls import release as release_entries
    from poagate.store.database import open_store

    try:
        wanted = ReleaseRequest.parse(
            alert_id, chf_id, network_operator, since, until, time_names=("--from", "--to")
        )
    except ValueError as exc:
        fail(str(exc))
    try:
        with store_errors(), open_store(database, "service") as store:
            done = release_entries(store, wanted, actor(), now(), note, dry_run=dry_run)
    except ValueError as exc:
        fail(str(exc))
    verb = "would release" if done.dry_run else "released"
    out.print(
        f"{verb} {done.released:,} entries; {done.already_released:,} were released before",
        highlight=False,
    )
    if done.not_in_log:
        out.print(
            f"not in the Suppression Log: {', '.join(done.not_in_log)}",
            highlight=False,
            markup=False,
        )


@alert_app.command("explain")
def alert_explain(
    alert_id: Annotated[str, typer.Argument(help="The AD1's alert_id.")],
    as_json: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Why an AD1 was suppressed or forwarded: its hub, ESME and DNO, every window of the hub,
    the guards' evidence and any release."""
    from poagate.service.explain import explain
    from poagate.store.database import open_store

    with store_errors(), open_store(database, "read") as store:
        found = explain(store, alert_id, None)
    if found is None:
        fail(f"no AD1 with alert_id {alert_id!r} has been decided", FAILURE)
    if as_json:
        print_json(found)
        return
    r = found.routing
    lines = [
        f"{found.alert_id}: {found.outcome} ({found.reason}) at {_time(found.decided_at)}",
        f"  hub {found.chf_id}, outage {_time(found.event_at)}, received "
        f"{_time(found.received_at)}, repeated {found.duplicates} times",
        f"  routed to DNO {r.network_operator or '(unknown)'}, ESME {r.esme_id or '(none)'}, "
        f"MPAN {r.mpan or '(none)'} (from the {r.source})",
    ]
    for w in found.windows:
        mark = "  * " if w.suppressed_it else "    "
        lines.append(
            f"{mark}{w.request_id}: {w.kind}, {w.reason}, {w.status}, window "
            f"{_time(w.window_start) or '-'} to {_time(w.window_end) or '-'}: {w.verdict}"
            + (f" (ended {_time(w.ended_at)} by {w.ended_by})" if w.ended_at else "")
        )
    if not found.windows:
        lines.append("    no activation of this hub is recorded")
    dark = found.release_if_dark
    lines.append(
        f"  release-if-dark {'off' if dark.release_after_minutes is None else 'on'}: "
        f"{len(dark.signs)} signs of life until {_time(dark.looked_until)}"
    )
    area = found.area_outage
    lines.append(
        f"  area-outage {'off' if area.threshold is None else 'on'}: sector "
        f"{area.sector or '(unknown)'}, {len(area.alerts)} AD1s of other hubs forwarded near it"
    )
    for v in found.verifications:
        lines.append(
            f"  verification {v.attempt}: requested {_time(v.requested_at)}, deadline "
            f"{_time(v.deadline)}: {v.outcome}"
            + (f" at {_time(v.settled_at)}" if v.settled_at else "")
        )
    if found.release is not None:
        rel = found.release
        lines.append(
            f"  released {_time(rel.released_at)} ({rel.reason})"
            + (f" by {rel.released_by}" if rel.released_by else "")
            + (f": {rel.note}" if rel.note else "")
        )
    if found.delivery is not None:
        lines.append(f"  webhook delivery: {found.delivery.status}")
    if not found.suppression_enabled:
        lines.append("  suppression is suspended now")
    out.print("\n".join(lines), highlight=False, markup=False, soft_wrap=True)
