"""Exports of the Suppression Log, scoped to one network operator."""

from __future__ import annotations

from datetime import datetime
from typing import IO

from poagate.formats.records import json_line, write_csv
from poagate.store.ports import Readers
from poagate.store.reads import OutcomeFilter


def export_suppression_log(
    store: Readers,
    network_operator: str,
    fmt: str,
    stream: IO[str],
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Write the operator's entries (AD1 received in [since, until)) as CSV or JSON Lines."""
    entries = store.reads.ad1_outcomes(
        OutcomeFilter(
            suppressed=True,
            network_operators=frozenset({network_operator}),
            since=since,
            until=until,
        )
    )
    if fmt == "csv":
        return write_csv(entries, stream)
    count = 0
    for entry in entries:
        stream.write(json_line(entry).decode())
        count += 1
    return count
