"""Exponential backoff with full jitter, for every reconnect loop in face01d.

A fleet of edge boxes that lost the same broker or camera must not come back
in step: each waits a random time in [0, min(cap, start·2ⁿ)] ("full jitter").

Refused credentials are another matter: no retry fixes them, a person does.
``AUTH_RETRY_S`` is the one wait for them, cameras and broker alike. Both
read their credentials at start, so a retry only helps after a fix on the
server's side; five minutes bounds that wait while spending a camera's
failed-login allowance slowly (many lock the account after a few failures)
and keeping the broker's log readable.
"""

from __future__ import annotations

import random

AUTH_RETRY_S = 300.0  # refused credentials (camera or broker): retry this rarely


def full_jitter(attempt: int, start: float, cap: float) -> float:
    """The wait before retry number ``attempt`` (0 for the first retry)."""
    return random.uniform(0, min(cap, start * 2 ** min(attempt, 30)))


class Backoff:
    """Counts attempts; ``reset`` after a success starts again from ``start``.

    ``auth_s`` is the wait after refused credentials (``auth_delay``): the
    owner passes its own module's constant so that tests can shorten it.
    """

    def __init__(self, start: float, cap: float, auth_s: float = AUTH_RETRY_S) -> None:
        self.start, self.cap, self.auth_s, self.attempt = start, cap, auth_s, 0

    def next_delay(self) -> float:
        delay = full_jitter(self.attempt, self.start, self.cap)
        self.attempt += 1
        return delay

    def auth_delay(self) -> float:
        """After refused credentials: ``auth_s``, or the backoff's delay if that is longer."""
        return max(self.auth_s, self.next_delay())

    def reset(self) -> None:
        self.attempt = 0
