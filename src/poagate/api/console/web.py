"""How the console answers: Jinja2 pages (autoescaped, whatever the templates' file names),
the headers every page carries, and the refusals shown as pages rather than problem documents.

Every page is served with ``Content-Security-Policy: default-src 'self'``: nothing is fetched
from another host, no inline script runs, and no other site may frame a page. The chart is
inline SVG drawn with presentation attributes, which the policy allows.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from poagate.formats.timestamps import format_timestamp

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    # Filtered views put ids in their URLs: they are not sent on to another site. (Not
    # no-referrer: with it a browser sends "Origin: null", and sign-in checks the origin.)
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _when(moment: datetime | None) -> str:
    return "" if moment is None else format_timestamp(moment)


def _query(values: dict[str, Any], **changes: Any) -> str:
    """A query string of the non-empty ``values`` with ``changes``: the link to a filtered
    view, its next page, its download."""
    merged = {**values, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,  # every template, whatever its name ends with
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENVIRONMENT.filters["when"] = _when
ENVIRONMENT.filters["path"] = lambda text: quote(str(text), safe="")
ENVIRONMENT.globals["query"] = _query


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    """A page: ``values`` for the template, with the session (if any) and its switch state."""
    values.setdefault("session", getattr(request.state, "console", None))
    values.setdefault("switch", getattr(request.state, "switch", None))
    values.setdefault("message", None)
    html = ENVIRONMENT.get_template(template).render(request=request, **values)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303, headers=SECURITY_HEADERS)


class Refusal(Exception):  # noqa: N818 - a page that says no
    """A page that refuses, with its status: no session (sign in), a wrong or missing CSRF
    token, a page for another role, an alert the session may not see."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


class SignInNeeded(Exception):  # noqa: N818 - a redirect to the sign-in page
    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


COOKIE = "poagate_console"


async def on_refusal(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refusal)
    return render(request, "refusal.html.j2", exc.status, title=exc.title, text=exc.message)


async def on_sign_in_needed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInNeeded)
    response = redirect("/ui/login" + (f"?{_query({'why': exc.reason})}" if exc.reason else ""))
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return response
