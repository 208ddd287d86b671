"""``poagate version`` and ``poagate --version``."""

from __future__ import annotations

import typer

from poagate import __version__
from poagate.cli.shared import out


def version() -> None:
    """Print poagate's version."""
    out.print(__version__)


def print_version(wanted: bool) -> None:
    """``poagate --version``: print the version and stop."""
    if wanted:
        out.print(__version__)
        raise typer.Exit()
