"""``poagate version``."""

from __future__ import annotations

from poagate import __version__
from poagate.cli.shared import out


def version() -> None:
    """Print poagate's version."""
    out.print(__version__)
