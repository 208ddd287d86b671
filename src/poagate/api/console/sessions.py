"""Signing in to the console (spec §13): a session per sign-in, kept in the store.

* **Sign in** (``/ui/login``) with an API token: a valid ``admin`` or ``dno`` token starts a
  session; the browser gets a random session id in a cookie (HttpOnly, SameSite=Strict,
  Path=/ui, Secure over https) and the store keeps only its SHA-256. A wrong token starts
  nothing (401, a plain message); a ``dsp`` token is told the console is not for it.
* **Every page** reads the session from the store (so every server process knows it), ends it
  after ``IDLE`` without use, and asks for its token's principal through the API's own look-up
  (``api.auth.principal_of``, cached for ``token_cache_seconds``): a revoked token ends the
  session within those seconds. Use is recorded at most once a ``TOUCH_EVERY``.
* **Every form that changes something** is a POST carrying the session's CSRF token, compared
  in constant time; a missing or wrong one is refused (403) before anything is done.
* **Sign out** ends the session in the store.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from poagate.api.auth import principal_of
from poagate.api.console.web import COOKIE, Refusal, SignInNeeded, redirect, render
from poagate.api.context import AppContext, context_of
from poagate.api.tokens import Principal
from poagate.service.access import TOKEN_PREFIX, token_sha256
from poagate.service.controls import SuppressionState, suppression_state
from poagate.store.access import SessionRecord

IDLE = timedelta(hours=8)
TOUCH_EVERY = timedelta(minutes=1)
MAX_TOKEN_LENGTH = 200  # a token is 46 characters; anything far longer is not one

router = APIRouter(prefix="/ui", include_in_schema=False)

WHY = {
    "signed-out": "You are signed out.",
    "expired": "Your session ended after 8 hours without use. Sign in again.",
    "ended": "Your session has ended (signed out, or its token was revoked). Sign in again.",
}


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in person: who (the token's principal) and the CSRF token of their forms."""

    id_sha256: str
    principal: Principal
    csrf: str

    @property
    def is_admin(self) -> bool:
        return self.principal.role == "admin"

    @property
    def scope(self) -> frozenset[str] | None:
        return self.principal.scope


async def current_session(request: Request) -> Session:
    """The session of the request's cookie (a dependency of every page), else a redirect to
    the sign-in page. Admin pages also learn the suppression switch's state, shown on each."""
    session_id = request.cookies.get(COOKIE, "")
    if not session_id or len(session_id) > MAX_TOKEN_LENGTH:
        raise SignInNeeded()
    context = context_of(request)
    digest = token_sha256(session_id)
    now = context.options.clock()
    record = await asyncio.to_thread(_read_session, context, digest)
    if record is None or record.ended_at is not None:
        raise SignInNeeded("ended")
    if now - record.last_seen_at >= IDLE:
        await context.ingestor.call(lambda store: store.sessions.end(digest, now))
        raise SignInNeeded("expired")
    principal = await principal_of(context, record.token_sha256)
    if principal is None or principal.role not in ("admin", "dno"):
        raise SignInNeeded("ended")  # the token was revoked
    if now - record.last_seen_at >= TOUCH_EVERY:
        await context.ingestor.call(lambda store: store.sessions.touch(digest, now))
    session = Session(digest, principal, record.csrf_secret)
    request.state.console = session
    if session.is_admin:
        request.state.switch = await asyncio.to_thread(_switch, context)
    return session


def _read_session(context: AppContext, digest: str) -> SessionRecord | None:
    with context.reads.borrow_unproven() as store:  # any cookie: the share for the unknown
        return store.sessions.get(digest)


def _switch(context: AppContext) -> SuppressionState:
    with context.reads.borrow() as store:
        return suppression_state(store)


CurrentSession = Annotated[Session, Depends(current_session)]


def check_csrf(session: Session, csrf: str) -> None:
    """Refuse a form whose CSRF token is not the session's (before anything is done)."""
    if not hmac.compare_digest(csrf.encode(), session.csrf.encode()):
        raise Refusal(
            403,
            "Form refused",
            "This form did not carry this session's security token, so nothing was done. "
            "Go back, reload the page and send the form again.",
        )


def admin_only(session: Session) -> None:
    if not session.is_admin:
        raise Refusal(403, "DCC operations only", "This page is for DCC operations (admin).")


async def admin_form(session: CurrentSession, csrf: Annotated[str, Form()] = "") -> Session:
    """The session of an admin form (a dependency of every act): DCC operations' only, and
    carrying the session's CSRF token — checked before the act's own fields are looked at."""
    admin_only(session)
    check_csrf(session, csrf)
    return session


AdminForm = Annotated[Session, Depends(admin_form)]


# -- sign in and out -----------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, why: str = "") -> Response:
    return render(request, "login.html.j2", message=WHY.get(why))


@router.post("/login")
async def login(request: Request, token: Annotated[str, Form()] = "") -> Response:
    if not same_origin(request):
        # Sign-in has no session yet, so no CSRF token: a form posted from another site (to
        # sign a person in with someone else's token) is refused by its Origin instead.
        raise Refusal(403, "Sign-in refused", "Sign in from poagate's own sign-in page.")
    context = context_of(request)
    token = token.strip()
    principal = None
    if token.startswith(TOKEN_PREFIX) and len(token) <= MAX_TOKEN_LENGTH:
        principal = await principal_of(context, token_sha256(token))
    if principal is None:
        return render(
            request,
            "login.html.j2",
            401,
            message="That token is not valid: check it, or ask DCC operations for one.",
        )
    if principal.role not in ("admin", "dno"):
        return render(
            request,
            "refusal.html.j2",
            403,
            title="Not for this token",
            text="The console is for DNOs and DCC operations. A dsp token submits messages "
            "through the API; it has no pages here.",
        )
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = context.options.clock()
    token_id = principal.token_id
    await context.ingestor.call(
        lambda store: store.sessions.start(token_sha256(session_id), token_id, csrf, now)
    )
    response = redirect("/ui/")
    response.set_cookie(
        COOKIE,
        session_id,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def same_origin(request: Request) -> bool:
    """Whether a form came from this server's own page: browsers send ``Origin`` with every
    POST; a request without one (not a browser) is not a cross-site form."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


@router.post("/logout")
async def logout(
    request: Request, session: CurrentSession, csrf: Annotated[str, Form()] = ""
) -> Response:
    check_csrf(session, csrf)
    context = context_of(request)
    now = context.options.clock()
    await context.ingestor.call(lambda store: store.sessions.end(session.id_sha256, now))
    response = redirect("/ui/login?why=signed-out")
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return response
