"""Browser sessions for the page: a random id in an HMAC-signed cookie, the rest kept in memory.

A browser cannot send the bearer token with an ``<img>`` or a form, so the
login form trades the token for a session. The cookie holds only the session
id and its HMAC-SHA256 under a key made at start-up: a forged or altered
cookie fails the signature, a restart forgets every session (the key and the
table are gone), and a stolen cookie is worth ``SESSION_TTL_S`` at most.
Each session carries its CSRF token, which every change the page makes sends
back (a hidden form field or the ``X-CSRF-Token`` header). The table is
bounded: past ``MAX_SESSIONS`` the oldest is dropped, so a loop of logins
cannot grow it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

COOKIE = "face01d_session"
SESSION_TTL_S = 12 * 3600.0  # a login lasts a working day
MAX_SESSIONS = 64  # logged-in browsers at once; the oldest is forgotten beyond this


@dataclass(frozen=True, slots=True)
class Session:
    """One logged-in browser: its id, its CSRF token and when it ends (monotonic seconds)."""

    id: str
    csrf: str
    expires: float


class Sessions:
    """The logged-in browsers of one daemon run (see the module)."""

    def __init__(self, ttl_s: float = SESSION_TTL_S, max_sessions: int = MAX_SESSIONS) -> None:
        self._key = secrets.token_bytes(32)
        self._ttl_s = ttl_s
        self._max = max_sessions
        self._table: OrderedDict[str, Session] = OrderedDict()

    def create(self) -> tuple[str, Session]:
        """A new session and the cookie value that names it."""
        session = Session(secrets.token_urlsafe(24), secrets.token_urlsafe(24), time.monotonic() + self._ttl_s)
        self._table[session.id] = session
        while len(self._table) > self._max:
            self._table.popitem(last=False)
        return f"{session.id}.{self._sign(session.id)}", session

    def lookup(self, cookie: str | None) -> Session | None:
        """The live session a cookie names; None for a missing, forged, forgotten or expired one."""
        session_id, _, signature = (cookie or "").partition(".")
        if not session_id or not hmac.compare_digest(signature.encode(), self._sign(session_id).encode()):
            return None
        session = self._table.get(session_id)
        if session is None or session.expires < time.monotonic():
            self._table.pop(session_id, None)
            return None
        return session

    def end(self, cookie: str | None) -> None:
        """Log out: the session named by ``cookie`` is forgotten (a bad cookie is ignored)."""
        session = self.lookup(cookie)
        if session is not None:
            self._table.pop(session.id, None)

    def _sign(self, session_id: str) -> str:
        return hmac.new(self._key, session_id.encode(), hashlib.sha256).hexdigest()


def csrf_matches(session: Session, given: str | None) -> bool:
    """Whether ``given`` is the session's CSRF token (compared in constant time)."""
    return given is not None and hmac.compare_digest(given.encode(), session.csrf.encode())
