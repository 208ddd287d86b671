"""JSON with orjson: timestamps as ISO-8601 UTC with ``Z``, as in every poagate output."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse

OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


class Json(JSONResponse):
    """A JSONResponse (so OpenAPI describes a route's response_model) written by orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=OPTIONS)
