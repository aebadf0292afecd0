"""Wrong tokens at the login form: after a few from one address, that address waits.

The login form trades the bearer token for a session, so it is where a
guessed token would be tried, one POST at a time. ``LoginLockout`` keeps,
per client address, the times of its recent wrong tokens: past
``MAX_FAILURES`` within ``WINDOW_S`` the address is answered 429 (with
``Retry-After``) without its token being compared, until the oldest of them
leaves the window. A right token clears the address's count. The table is
bounded (``MAX_ADDRESSES``, the least recently failed forgotten first), so
a flood from many addresses cannot grow it. Behind a reverse proxy every
browser shares the proxy's address: its lockout is everybody's, which is
the price of not trusting a forwarded header; the bearer-token API is not
affected.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque

import structlog

log = structlog.get_logger(__name__)

MAX_FAILURES = 5  # wrong tokens from one address within WINDOW_S before it must wait
WINDOW_S = 15 * 60.0
MAX_ADDRESSES = 1024  # addresses remembered at once


class LoginLockout:
    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S,
                 max_addresses: int = MAX_ADDRESSES) -> None:
        self._max_failures = max_failures
        self._window_s = window_s
        self._max_addresses = max_addresses
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def wait_s(self, address: str, now: float | None = None) -> int:
        """Seconds ``address`` must wait before its next try; 0 when it may try now."""
        now = time.monotonic() if now is None else now
        failures = self._recent(address, now)
        if len(failures) < self._max_failures:
            return 0
        return max(1, math.ceil(failures[0] + self._window_s - now))

    def failed(self, address: str, now: float | None = None) -> None:
        """One wrong token from ``address``; the line that says an address is locked out is logged once."""
        now = time.monotonic() if now is None else now
        failures = self._recent(address, now)
        failures.append(now)
        self._failures[address] = failures
        self._failures.move_to_end(address)
        while len(self._failures) > self._max_addresses:
            self._failures.popitem(last=False)
        if len(failures) == self._max_failures:
            log.warning("web login locked out", address=address, failures=len(failures),
                        wait_s=self.wait_s(address, now))

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)

    def _recent(self, address: str, now: float) -> deque[float]:
        failures = self._failures.get(address, deque())
        while failures and now - failures[0] >= self._window_s:
            failures.popleft()
        return failures
