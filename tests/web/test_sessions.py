"""Browser sessions: the cookie names a session only with its signature, and only until it expires."""

from __future__ import annotations

import time

from face01d.web.sessions import Sessions, csrf_matches


def test_a_cookie_names_its_session_and_a_forged_one_nothing():
    sessions = Sessions()
    cookie, session = sessions.create()
    assert sessions.lookup(cookie) == session
    session_id, _, signature = cookie.partition(".")
    assert sessions.lookup(f"{session_id}.{'0' * len(signature)}") is None  # the id without its signature
    assert sessions.lookup(session_id) is None
    assert sessions.lookup(Sessions().create()[0]) is None  # another daemon run's key
    assert sessions.lookup(None) is None


def test_sessions_expire_end_at_logout_and_are_bounded():
    short = Sessions(ttl_s=0.05)
    cookie, _ = short.create()
    time.sleep(0.1)
    assert short.lookup(cookie) is None
    sessions = Sessions(max_sessions=2)
    first, _ = sessions.create()
    second, _ = sessions.create()
    sessions.create()
    assert sessions.lookup(first) is None and sessions.lookup(second) is not None  # the oldest went
    sessions.end(second)
    assert sessions.lookup(second) is None


def test_the_csrf_token_must_match_exactly():
    _, session = Sessions().create()
    assert csrf_matches(session, session.csrf)
    assert not csrf_matches(session, None) and not csrf_matches(session, session.csrf[:-1])
