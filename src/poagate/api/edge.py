"""What the edge refuses before any route sees a request: a path or query that holds a control
character (NUL, CR, LF, …, DEL), percent-encoded or not.

No identifier, cursor, time or filter poagate reads may hold one (``formats.limits``: ids are
visible ASCII), and PostgreSQL cannot even hold a NUL in text: ``/v1/alerts/a%00`` used to
reach the store and fail there (psycopg's ``DataError``, a 500). Refusing them here, for every
path and query parameter of the API and the console alike, answers 400 with a problem that says
what was wrong; the store maps what still gets through (a NUL in a body's text) to
``StoreValueError`` (``api.problems``: 422).
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from starlette.types import Scope

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BYTES = re.compile(rb"[\x00-\x1f\x7f]")


def control_character_in(scope: Scope) -> str | None:
    """Where a request's target holds a control character ("path", "query"), else None."""
    if _CONTROL.search(str(scope.get("path", ""))):
        return "path"
    raw = scope.get("raw_path")
    if isinstance(raw, bytes) and b"%" in raw and _CONTROL_BYTES.search(unquote_to_bytes(raw)):
        return "path"  # the target as sent, should a server leave it encoded
    query = scope.get("query_string", b"")
    if isinstance(query, bytes) and query and _CONTROL_BYTES.search(unquote_to_bytes(query)):
        return "query"
    return None
