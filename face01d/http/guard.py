"""uvicorn's h11 protocol with the limits a server on a camera box needs: slow and idle clients are shed.

uvicorn bounds keep-alive, but a client that sends half a request head, a
body that stops halfway, or a reader that stops reading holds its
connection (and a file descriptor) for as long as it likes, and past
``limit_concurrency`` uvicorn still accepts and answers 503 to everyone.
This subclass, passed as ``uvicorn.Config(http=...)``, adds:

- a cap on open connections: one more is answered 503 and closed at once;
- a deadline for the request head, from the connection's opening (or, on a
  kept-alive connection, from the next request's first byte);
- a deadline for each piece of a body: a body that stops gets 408 and a close
  (while the app has not asked for more, reading is paused and it waits);
- a deadline for a client that takes none of its answer (a preview viewer
  that stopped reading): the connection is dropped, so its route sees the
  disconnect and lets go of what it held.

What was shed is counted by reason; the totals are logged at most every
``LOG_EVERY_S`` (a flood is a line, not a line per client) and when the server stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import h11
import structlog
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol

from face01d.config.models import Config
from face01d.fds import fd_budget

log = structlog.get_logger(__name__)

LOG_EVERY_S = 10.0  # at most one "http clients shed" line this often (a flood of slow clients is one line)
UNSENT_MAX = 128 * 1024  # bytes the kernel queues beyond those in flight: a reader that stops is seen in seconds
AT_CAPACITY = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
               b"content-length: 21\r\nconnection: close\r\n\r\ntoo many connections\n")


@dataclass(frozen=True)
class Limits:
    """What one client may hold: [http]'s figures, with the connection cap already fitted to the fd budget."""

    max_connections: int = 256
    head_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    send_timeout_s: float = 10.0
    keepalive_s: float = 5.0


class ConnectionGuard:
    """One server's limits and the count of what they shed, by reason."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.shed: Counter[str] = Counter()  # refused, head, body, send
        self._logged_at = -LOG_EVERY_S

    def protocol(self) -> type[H11Protocol]:
        """The protocol class for ``uvicorn.Config(http=...)``, bound to this guard."""
        return type("GuardedH11Protocol", (GuardedH11Protocol,), {"guard": self})

    def count(self, reason: str) -> None:
        """One client shed; the totals are logged unless they were a moment ago."""
        self.shed[reason] += 1
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_S:
            self._logged_at = now
            self.log_totals()

    def log_totals(self) -> None:
        if self.shed:
            log.info("http clients shed", **self.shed, max_connections=self.limits.max_connections)


class GuardedH11Protocol(H11Protocol):
    """One connection: the head, each body read and each stalled write have a deadline; past the cap, 503."""

    guard: ConnectionGuard  # set by ConnectionGuard.protocol()
    _deadline: asyncio.TimerHandle | None = None  # the head's or the body's, whichever the client owes
    _on_expiry: Callable[[], None] | None = None
    _write_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.guard.limits.max_connections:
            self.guard.count("refused")
            transport.write(AT_CAPACITY)
            transport.close()
            return
        self._arm(self.guard.limits.head_timeout_s, self._head_timed_out)
        _cap_unsent(transport)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        state = self.conn.their_state
        if state is h11.SEND_BODY:  # the head is in, or more body came: the clock starts again
            self._arm(self.guard.limits.body_timeout_s, self._body_timed_out)
        elif state is h11.IDLE:  # part of a head (a kept-alive connection's next one starts here)
            if self._on_expiry != self._head_timed_out:
                self._arm(self.guard.limits.head_timeout_s, self._head_timed_out)
        else:  # the request is in: what the app takes is not the client's time
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._cancel_write_deadline()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        self._cancel_write_deadline()
        timeout = self.guard.limits.send_timeout_s
        self._write_deadline = self.loop.call_later(timeout, self._send_timed_out)

    def resume_writing(self) -> None:
        self._cancel_write_deadline()
        super().resume_writing()

    def _head_timed_out(self) -> None:
        self._disarm()
        self.guard.count("head")
        self.transport.close()

    def _body_timed_out(self) -> None:
        self._disarm()
        if self.flow.read_paused:  # the app has not asked for more yet: the client is not the one late
            self._arm(self.guard.limits.body_timeout_s, self._body_timed_out)
            return
        self.guard.count("body")
        if self.cycle is not None and not self.cycle.response_started:
            self._answer(408, "the request body stopped coming\n")
        self.transport.close()

    def _send_timed_out(self) -> None:
        self._write_deadline = None
        self.guard.count("send")
        self.transport.abort()  # close() would wait for a reader that does not read

    def _answer(self, status: int, text: str) -> None:
        """A short answer before closing; the app, woken by the close, sends nothing more."""
        body = text.encode()
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        events = (h11.Response(status_code=status, headers=headers, reason=STATUS_PHRASES[status]),
                  h11.Data(data=body), h11.EndOfMessage())
        self.transport.write(b"".join(self.conn.send(event) or b"" for event in events))

    def _arm(self, timeout: float, expired: Callable[[], None]) -> None:
        self._disarm()
        self._deadline, self._on_expiry = self.loop.call_later(timeout, expired), expired

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self._on_expiry = None

    def _cancel_write_deadline(self) -> None:
        if self._write_deadline is not None:
            self._write_deadline.cancel()
            self._write_deadline = None


def _cap_unsent(transport: asyncio.Transport) -> None:
    """Without this, a client that stops reading is noticed only once the kernel's send buffer
    (autotuned up to 4 MiB) is full: tens of seconds of a preview stream (23 s in its test, 3 s with it)."""
    sock = transport.get_extra_info("socket")
    option = getattr(socket, "TCP_NOTSENT_LOWAT", None)  # Linux, macOS
    if sock is not None and option is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, option, UNSENT_MAX)


def limits_for(config: Config) -> Limits:
    """``[http]``'s limits, the connection cap fitted to the file-descriptor budget (the figures logged)."""
    http, workers = config.http, config.workers
    processes = workers.processes if "process" in (workers.detect, workers.encode) else 0
    budget = fd_budget(sum(camera.enabled for camera in config.cameras), processes)
    cap = budget.connections(http.max_connections)
    log.info("file descriptors", soft_limit=budget.soft, open=budget.open_now, reserve=budget.reserve,
             max_connections=cap)
    if cap < http.max_connections:
        log.warning("the file-descriptor limit leaves fewer HTTP connections than [http] max_connections: "
                    "raise LimitNOFILE", max_connections=http.max_connections, allowed=cap)
    return Limits(cap, http.head_timeout_s, http.body_timeout_s, http.send_timeout_s, http.keepalive_s)
