"""The console (spec §13): web pages for people — a DNO's control room and DCC operations —
served by ``poagate serve`` at ``/ui/``, rendered on the server (Jinja2, no script), with every
asset served by poagate itself. ``install`` adds it to the API's application.

* ``sessions`` — sign-in, sign-out, the session of each page, CSRF;
* ``pages_dno`` — the Suppression Log (filters, pages, CSV, daily chart), feed, explanation;
* ``pages_admin`` — DCC operations' pages and the incident controls' forms;
* ``charts`` — the daily chart as inline SVG; ``web`` — rendering, headers, refusals.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles


def install(app: FastAPI) -> None:
    """Serve the console at ``/ui/`` (left out of the OpenAPI description)."""
    from poagate.api.console import pages_admin, pages_dno, sessions
    from poagate.api.console.web import HERE, Refusal, SignInNeeded, on_refusal, on_sign_in_needed

    app.add_exception_handler(Refusal, on_refusal)
    app.add_exception_handler(SignInNeeded, on_sign_in_needed)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="console-static")
    for module in (sessions, pages_dno, pages_admin):
        app.include_router(module.router)
