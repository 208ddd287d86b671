"""What the commands share: the consoles, the exit codes and how to fail (``store_errors`` for
a store or file that cannot be used), input file checks, the Rich progress bars, the
``--database`` option and the gate settings options of replay and simulate.

Only light imports here: every command module imports this one when ``poagate`` starts.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from poagate.domain.actors import Actor, command_line_actor
from poagate.formats.errors import InputError
from poagate.store import StoreError, StoreRefusedError

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        "--db",
        help="sqlite:///path.db, a file path, or postgresql://user@host:port/db "
        "(default: $POAGATE_DATABASE, else poagate.db).",
    ),
]

# Piped or logged output keeps one row per line: 120 columns instead of Rich's default 80.
out = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 120)

USAGE_ERROR = 2
FAILURE = 1


def actor() -> Actor:
    """Who acts from the command line, as the audit log records it: ``command line (<user>)``
    through the channel cli."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown user"
    return command_line_actor(user)


def fail(message: str, code: int = USAGE_ERROR) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


class store_errors:  # noqa: N801 - used as a function: ``with store_errors():``
    """Within it, a store that cannot be used (``StoreError``), a file that cannot be read or
    written (``OSError``) and any of ``also`` end the command with their message and exit 1;
    a store refused as it is (missing, not poagate's, another schema revision:
    ``StoreRefusedError``) exits 2, its message saying what to run. (It never swallows an
    exception: it raises ``typer.Exit`` in its place.)"""

    def __init__(self, *also: type[Exception]) -> None:
        self._kinds: tuple[type[Exception], ...] = (StoreError, OSError, *also)

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if isinstance(exc, StoreRefusedError):
            fail(str(exc), USAGE_ERROR)
        if isinstance(exc, self._kinds):
            fail(str(exc), FAILURE)


def readable_file(path: Path, what: str) -> Path:
    """An input file that exists and can be read, or exit 2 saying which and why."""
    if not path.exists():
        fail(f"{what} {path} does not exist")
    if not path.is_file():
        fail(f"{what} {path} is not a regular file")
    if not os.access(path, os.R_OK):
        fail(f"{what} {path} cannot be read (permission denied)")
    return path


class RichProgress:
    """``Progress`` for the service layer, drawn with Rich on standard error."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def phase(self, description: str, total: int | None) -> None:
        self.finish()
        self._task = self._progress.add_task(description, total=total)

    def finish(self) -> None:
        """Show the phase before as complete (one without a total counts as one step)."""
        if self._task is not None:
            task = self._progress.tasks[-1]
            total = task.total if task.total is not None else 1
            self._progress.update(self._task, total=total, completed=total)

    def advance(self, amount: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)


def rich_progress() -> Progress:
    """The commands' progress display, on standard error."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


@contextmanager
def progress_bars() -> Iterator[RichProgress]:
    with rich_progress() as progress:
        bars = RichProgress(progress)
        yield bars
        bars.finish()


# Options that replay and simulate share.
AreaOutageSeconds = Annotated[
    int | None,
    typer.Option(
        min=1, help="area-outage: how close in time the evidence must be, in seconds (900)."
    ),
]
VerifyAfterMinutes = Annotated[
    int | None,
    typer.Option(
        min=0,
        help="verification guard: ask the DSP to verify a suppressed AD1's site this "
        "many minutes after the outage (0: off; default off).",
    ),
]
VerifyTimeoutMinutes = Annotated[
    int | None,
    typer.Option(min=1, help="Verification: minutes to wait for an answer to an attempt (4)."),
]
VerifyAttempts = Annotated[
    int | None,
    typer.Option(min=1, help="Verification: attempts before the AD1 is released (2)."),
]
ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="TOML file of gate settings, named as the options (docs/guards.md); options "
        "override it.",
    ),
]


def gate_settings(config_file: Path | None, **options: Any) -> dict[str, Any]:
    """The gate settings a command was given: its configuration file, then its options."""
    from poagate.formats.config_file import read_config_file

    settings: dict[str, Any] = {}
    if config_file is not None:
        try:
            settings = read_config_file(config_file)
        except InputError as exc:
            fail(str(exc))
    settings.update({k: v for k, v in options.items() if v is not None})
    return settings
