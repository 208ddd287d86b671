"""A request body to items for the ingestor: one DUIS message, one JSON event, or JSON Lines.

The server stamps ``received_at`` with the moment the request arrived. Only the DSP may supply
its own (a back-fill of messages received earlier); from any other caller a supplied
``received_at`` rejects that item, so that nobody can place an event in the past. Each item
keeps the original message byte for byte: a forwarded AD1 goes to its DNO as it came.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from poagate.formats.duis import parse_duis
from poagate.formats.errors import InputError
from poagate.formats.jsonl import parse_event
from poagate.formats.limits import MAX_LINES_PER_REQUEST, error_text
from poagate.formats.timestamps import format_timestamp
from poagate.service.ingest import Item

XML_TYPES = frozenset({"application/xml", "text/xml"})
JSON_TYPE = "application/json"
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/jsonl", "application/json-seq"})
SUPPORTED = sorted(XML_TYPES | NDJSON_TYPES | {JSON_TYPE})


class UnsupportedMediaTypeError(ValueError):
    pass


class TooManyLinesError(ValueError):
    """A JSON Lines body of more messages than one request may hold."""


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def items_of(
    body: bytes, content_type: str | None, received_at: datetime, may_backfill: bool
) -> list[Item]:
    """The items of a request body (see the module docstring)."""
    kind = media_type(content_type)
    if kind in XML_TYPES:
        return [_xml_item(1, body, received_at)]
    stamp = format_timestamp(received_at)  # once per request: every item has the same
    if kind == JSON_TYPE:
        return [_json_item(1, body, stamp, may_backfill)]
    if kind in NDJSON_TYPES:
        lines = body.split(b"\n")
        if len(lines) > MAX_LINES_PER_REQUEST:
            messages = sum(1 for line in lines if line.strip())
            if messages > MAX_LINES_PER_REQUEST:
                raise TooManyLinesError(
                    f"the body holds {messages:,} messages; one request may hold at most "
                    f"{MAX_LINES_PER_REQUEST:,}: send smaller batches"
                )
        return [
            _json_item(number, line, stamp, may_backfill)
            for number, line in enumerate(lines, start=1)
            if line.strip()
        ]
    raise UnsupportedMediaTypeError(
        f"Content-Type {content_type or '(none)'} is not one poagate reads; "
        f"send one of {', '.join(SUPPORTED)}"
    )


def _xml_item(position: int, body: bytes, received_at: datetime) -> Item:
    try:
        event = parse_duis(body, received_at)
    except InputError as exc:
        return Item(position, None, error_text(str(exc)), raw=body)
    return Item(position, event, raw=body, payload=body, content_type="application/xml")


def _json_item(position: int, line: bytes, received_at: str, may_backfill: bool) -> Item:
    """One JSON event; ``received_at`` is the server's stamp, formatted, for items without."""
    line = line.rstrip(b"\r")
    try:
        obj: Any = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return Item(position, None, error_text(f"not valid JSON: {exc}"), raw=line)
    if type(obj) is dict:
        if obj.get("received_at") is not None and not may_backfill:
            return Item(
                position,
                None,
                "received_at may be supplied only by the DSP (a back-fill); leave it out and "
                "the server stamps the time it received the message",
                raw=line,
            )
        if obj.get("received_at") is None:
            obj = {**obj, "received_at": received_at}
    try:
        event = parse_event(obj)
    except InputError as exc:
        return Item(position, None, error_text(str(exc)), raw=line)
    if type(obj) is dict and obj.get("type") == "duis":
        # The DNO gets the DUIS message itself, not the JSON that carried it.
        return Item(
            position,
            event,
            raw=line,
            payload=str(obj["xml"]).encode(),
            content_type="application/xml",
        )
    return Item(position, event, raw=line, payload=line, content_type=JSON_TYPE)
