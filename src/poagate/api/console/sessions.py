"""Signing in to the console (spec §13): a session per sign-in, kept in the store.

* **Sign in** (``/ui/login``) with an API token: a valid ``admin`` or ``dno`` token starts a
  session; the browser gets a random session id in a cookie (HttpOnly, SameSite=Strict,
  Path=/ui, Secure over https) and the store keeps only its SHA-256. A wrong token starts
  nothing (401, a plain message); a ``dsp`` token is told the console is not for it.
* **Every page** reads the session from the store (so every server process knows it), ends it
  after ``IDLE`` without use or ``session_lifetime_hours`` (12 by default) after sign-in
  however busy, and asks for its token's principal through the API's own look-up
  (``api.auth.principal_of``, cached for ``token_cache_seconds``): a revoked token ends the
  session within those seconds. Use is recorded at most once a ``TOUCH_EVERY``.
* **Every form that changes something** is a POST carrying the session's CSRF token, compared
  in constant time; a missing or wrong one is refused (403) before anything is done.
* **Sign out** ends the session in the store.
* **Behind a proxy** (docs/security.md "Running behind a proxy"): sign-in takes a form whose
  ``Origin`` is the server's own (its ``Host``) or one of the configured public origins
  (``poagate serve --public-origin``), so a proxy may rewrite ``Host``; the cookie is
  ``Secure`` when the request came over https — as the proxy says in ``X-Forwarded-Proto``,
  trusted from ``--forwarded-allow-ips`` — or the browser's ``Origin`` is https.
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
from poagate.api.options import origin_of
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
    "lifetime": "Your session reached its time limit ({hours:g} hours after sign-in, however "
    "busy). Sign in again.",
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
    if now - record.created_at >= timedelta(hours=context.options.session_lifetime_hours):
        await context.ingestor.call(lambda store: store.sessions.end(digest, now))
        raise SignInNeeded("lifetime")
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
    message = WHY.get(why)
    if message is not None:
        message = message.format(hours=context_of(request).options.session_lifetime_hours)
    return render(request, "login.html.j2", message=message)


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
        secure=over_https(request),
    )
    return response


def same_origin(request: Request) -> bool:
    """Whether a form came from this server's own page: browsers send ``Origin`` with every
    POST; a request without one (not a browser) is not a cross-site form. Its own page is one
    served under the request's ``Host``, or under a public origin the server was given
    (``--public-origin``: a proxy in front may send another ``Host`` on)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    if origin.split("://", 1)[-1] == host:
        return True
    public = context_of(request).options.public_origins
    if not public:
        return False
    try:
        return origin_of(origin) in public
    except ValueError:  # "null", or not an origin at all
        return False


def over_https(request: Request) -> bool:
    """Whether the browser reached the console over https: the request's scheme (behind a
    proxy, its ``X-Forwarded-Proto`` when uvicorn trusts it: ``--forwarded-allow-ips``) or
    the page the form was sent from (``Origin``)."""
    origin = request.headers.get("origin", "")
    return request.url.scheme == "https" or origin.lower().startswith("https://")


@router.post("/logout")
async def logout(
    request: Request, session: CurrentSession, csrf: Annotated[str, Form()] = ""
) -> Response:
    check_csrf(session, csrf)
    context = context_of(request)
    now = context.options.clock()
    await context.ingestor.call(lambda store: store.sessions.end(session.id_sha256, now))
    response = redirect("/ui/login?why=signed-out")
    response.delete_cookie(
        COOKIE, path="/ui", httponly=True, samesite="strict", secure=over_https(request)
    )
    return response
