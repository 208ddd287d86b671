"""Exports of the Suppression Log: one network operator's to a file (the command line), and any
scoped, filtered range as one streamed CSV download (the API and the console)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import IO

from poagate.formats.records import SUPPRESSION_FIELDS, json_line, write_csv, write_rows_csv
from poagate.store.alerts.listings import OutcomeFilter
from poagate.store.ports import LogReaders


def export_suppression_log(
    store: LogReaders,
    network_operator: str,
    fmt: str,
    stream: IO[str],
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Write the operator's entries (AD1 received in [since, until)) as CSV or JSON Lines."""
    entries = store.listings.ad1_outcomes(
        OutcomeFilter(
            suppressed=True,
            network_operators=frozenset({network_operator}),
            since=since,
            until=until,
        )
    )
    try:
        if fmt == "csv":
            return write_csv(entries, stream)
        count = 0
        for entry in entries:
            stream.write(json_line(entry).decode())
            count += 1
        return count
    finally:
        # Closed here whatever happened (a reader gone, a full disk): a cursor left to the
        # garbage collector is closed after its database, and says so on standard error.
        close = getattr(entries, "close", None)
        if close is not None:
            close()


EXPORT_CHUNK = 5_000  # entries read per short read while a download streams


def csv_chunks(
    borrow: Callable[[], AbstractContextManager[LogReaders]],
    which: OutcomeFilter,
    after_alert_id: str | None = None,
    columns: tuple[str, ...] = SUPPRESSION_FIELDS,
    chunk: int = EXPORT_CHUNK,
) -> Iterator[str]:
    """Every decided AD1 ``which`` selects (after the one ``after_alert_id`` names, if given),
    as CSV text with a header row, a chunk at a time: each chunk is one short read on a
    connection borrowed for it and given back, so a download of any length holds neither a
    connection nor a read transaction while the client reads, and memory does not grow with
    the range (spec §12 reporting; the console's export too). Entries decided while it
    streams join the end if ``which`` selects them."""
    stream = io.StringIO()
    write_csv((), stream, columns)
    yield stream.getvalue()
    last = after_alert_id
    while True:
        with borrow() as store:
            page = store.listings.outcomes_page(which, last, chunk)
        if not page:
            return
        stream = io.StringIO()
        write_rows_csv(page, stream, columns)
        yield stream.getvalue()
        last = page[-1].alert_id
