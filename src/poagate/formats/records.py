"""Output records (spec §7) as JSON Lines and CSV, with the spec's field names.

Timestamps are ISO-8601 in UTC with ``Z``. Each record is projected onto a dictionary of its spec
fields, spelled out field by field (see below for why), which orjson then writes; the field
names of Suppression Log entries and forwarded AD1s are their value objects' own.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import fields
from datetime import datetime
from typing import IO, Any

import orjson

from poagate.domain.outcomes import ActivationRecord, ForwardedAlert, SuppressionEntry
from poagate.domain.verification import VerificationRequest
from poagate.formats.errors import Rejection
from poagate.formats.timestamps import format_timestamp

JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE

SUPPRESSION_FIELDS = tuple(f.name for f in fields(SuppressionEntry))
FORWARDED_FIELDS = tuple(f.name for f in fields(ForwardedAlert))
ACTIVATION_FIELDS = (
    "request_id",
    "device_id",
    "originator",
    "kind",
    "received_at",
    "execution_at",
    "chf_id",
    "reason",
    "status",
    "window_start",
    "window_end",
    "guid_list_version",
)


def json_line(record: object) -> bytes:
    """One record as a JSON Lines line (ending in a newline)."""
    return orjson.dumps(record, option=JSON_OPTIONS)


# The projections below are spelled out field by field: orjson writes a dictionary faster than
# a dataclass (2.1 µs against 3.6 µs), and a literal dictionary is built in 0.6 µs against 2.0
# µs for one built generically from the field names — per forwarded alert, on the hot path.


def forwarded_fields(o: ForwardedAlert) -> dict[str, Any]:
    return {
        "alert_id": o.alert_id,
        "chf_id": o.chf_id,
        "network_operator": o.network_operator,
        "event_at": o.event_at,
        "received_at": o.received_at,
        "decided_at": o.decided_at,
        "reason": o.reason,
    }


def suppression_fields(o: SuppressionEntry) -> dict[str, Any]:
    return {
        "alert_id": o.alert_id,
        "chf_id": o.chf_id,
        "esme_id": o.esme_id,
        "mpan": o.mpan,
        "network_operator": o.network_operator,
        "event_at": o.event_at,
        "received_at": o.received_at,
        "decided_at": o.decided_at,
        "activation_request_id": o.activation_request_id,
        "activation_originator": o.activation_originator,
        "window_start": o.window_start,
        "window_end": o.window_end,
        "rule": o.rule,
        "released_at": o.released_at,
        "release_reason": o.release_reason,
    }


def outcome_line(o: SuppressionEntry | ForwardedAlert) -> bytes:
    """A decided AD1 as its JSON Lines line (spec §7 fields)."""
    if type(o) is ForwardedAlert:
        return orjson.dumps(forwarded_fields(o), option=JSON_OPTIONS)
    assert type(o) is SuppressionEntry
    return orjson.dumps(suppression_fields(o), option=JSON_OPTIONS)


def activation_fields(record: ActivationRecord) -> dict[str, Any]:
    return {
        "request_id": record.request_id,
        "device_id": record.device_id,
        "originator": record.originator,
        "kind": record.kind,
        "received_at": record.received_at,
        "execution_at": record.execution_at,
        "chf_id": record.chf_id,
        "reason": record.reason,
        "status": record.status,
        "window_start": record.window_start,
        "window_end": record.window_end,
        "guid_list_version": record.guid_list_version,
    }


def verification_fields(request: VerificationRequest) -> dict[str, Any]:
    """A spec §14 verification request: ``verifications.jsonl``, the DSP's queue."""
    return {
        "alert_id": request.alert_id,
        "chf_id": request.chf_id,
        "esme_id": request.esme_id,
        "attempt": request.attempt,
        "requested_at": request.requested_at,
        "deadline": request.deadline,
        "settled_at": request.settled_at,
        "outcome": request.outcome.value,
    }


def rejection_fields(rejection: Rejection) -> dict[str, Any]:
    return {
        "source": rejection.source,
        "line": rejection.line,
        "error": rejection.error,
        "raw": rejection.raw,
    }


# A cell a spreadsheet would read as a formula (OWASP's "CSV injection"): an alert_id of
# ``=HYPERLINK(...)`` or ``+cmd|...`` must reach a DNO's spreadsheet as text. Such a cell gets a
# leading apostrophe, which spreadsheets show as text and do not display.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """One value as a CSV cell: empty for None, timestamps in the output form, and text that
    could start a formula neutralised (see above)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_timestamp(value)
    text = str(value)
    if text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def write_csv(
    records: Iterable[object],
    stream: IO[str],
    columns: tuple[str, ...] = SUPPRESSION_FIELDS,
) -> int:
    """Write records as CSV with a header row; returns how many rows were written."""
    csv.writer(stream, lineterminator="\n").writerow(columns)
    return write_rows_csv(records, stream, columns)


def write_rows_csv(
    records: Iterable[object],
    stream: IO[str],
    columns: tuple[str, ...] = SUPPRESSION_FIELDS,
) -> int:
    """Write records as CSV rows without the header (a download written in chunks)."""
    writer = csv.writer(stream, lineterminator="\n")
    count = 0
    for record in records:
        writer.writerow([csv_cell(getattr(record, c)) for c in columns])
        count += 1
    return count
