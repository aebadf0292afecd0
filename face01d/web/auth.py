"""Who may use the server: a bearer token (the API) or a browser session (the page), CSRF-checked.

Replaces ``face01d.http.routes.BearerToken`` when the page is on. A request
passes with ``Authorization: Bearer <token>`` as before (a browser never sends
that header cross-site, so the API needs no CSRF token), or with a session
cookie. A cookie alone is what a forged cross-site request carries too, so a
change (any method but GET and HEAD) made with a cookie must also come from
this origin (``Origin``, else ``Referer``) and carry the session's CSRF token:
the ``X-CSRF-Token`` header (the page's script) or a ``csrf`` field of a
URL-encoded form body (read here up to ``FORM_MAX_BYTES`` and handed on
unchanged). Refusals: 401 (or, for a page, a redirect to the login form)
without credentials, 403 for a change without the origin or the token.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from face01d.http.routes import BearerToken
from face01d.web.sessions import COOKIE, Session, Sessions, csrf_matches

SESSION_KEY = "face01d.session"  # where the session is left in the scope for the pages
OPEN_PATHS = frozenset({"/healthz", "/login"})  # the login form checks its own origin
OPEN_PREFIXES = ("/static/",)
SAFE_METHODS = frozenset({"GET", "HEAD"})
FORM_TYPE = "application/x-www-form-urlencoded"
FORM_MAX_BYTES = 64 * 1024  # a page's form is a few fields; an upload goes as image/* with the header


class WebAuth(BearerToken):
    """ASGI middleware: the bearer token or a session, and CSRF checks for a session's changes."""

    def __init__(self, app: ASGIApp, token: str, sessions: Sessions) -> None:
        super().__init__(app, token)
        self._sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_open(scope["path"]) or self._authorised(scope):
            await self._app(scope, receive, send)
            return
        session = self._sessions.lookup(_cookie(scope))
        if session is None:
            await _unauthorised(scope)(scope, receive, send)
            return
        scope[SESSION_KEY] = session
        if scope["method"] not in SAFE_METHODS:
            receive, refusal = await _checked_change(scope, receive, session)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self._app(scope, receive, send)


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def _cookie(scope: Scope) -> str | None:
    for part in Headers(scope=scope).get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return None


def _unauthorised(scope: Scope) -> Response:
    """A page asked for by a browser goes to the login form; anything else gets the API's 401."""
    accept = Headers(scope=scope).get("accept", "")
    if scope["method"] == "GET" and "text/html" in accept:
        return RedirectResponse("/login", 303)
    return JSONResponse({"error": "unauthorised"}, 401, headers={"WWW-Authenticate": "Bearer"})


def same_origin(scope: Scope) -> bool:
    """Whether ``Origin`` (or, without it, ``Referer``) names this server's host; False when neither is sent."""
    headers = Headers(scope=scope)
    source = headers.get("origin") or headers.get("referer")
    if not source or source == "null":
        return False
    return urlsplit(source).netloc == headers.get("host", "")


async def _checked_change(scope: Scope, receive: Receive, session: Session) -> tuple[Receive, Response | None]:
    """(the receive to hand on, None) for a change from this origin with the CSRF token; else a 403."""
    if not same_origin(scope):
        return receive, _forbidden("cross-origin change refused")
    given = Headers(scope=scope).get("x-csrf-token")
    if given is None and Headers(scope=scope).get("content-type", "").startswith(FORM_TYPE):
        body = await _read_body(receive)
        if body is None:
            return receive, JSONResponse({"error": "form too large"}, 413)
        given = parse_qs(body.decode("latin-1")).get("csrf", [None])[0]
        receive = _replay(body, receive)
    if not csrf_matches(session, given):
        return receive, _forbidden("missing or wrong CSRF token")
    return receive, None


def _forbidden(reason: str) -> Response:
    return JSONResponse({"error": reason}, 403)


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None past FORM_MAX_BYTES."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > FORM_MAX_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the already-read body once, then the client's own messages (its disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
