"""The sd_notify protocol (Type=notify): READY, STATUS, WATCHDOG, STOPPING.

It is one datagram to the socket named by $NOTIFY_SOCKET, so it is written
here rather than pulled in as a dependency. Outside systemd every call is a
no-op. The datagram is sent without blocking: it is sent from the event
loop, and a notify socket whose queue is full (systemd stalled; the kernel
queues only ``net.unix.max_dgram_qlen``, 10 by default) must cost a dropped
STATUS or WATCHDOG line, never a stalled loop. systemd reads its socket at
once, so nothing is dropped in practice.
"""

from __future__ import annotations

import os
import socket


class SystemdNotifier:
    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def notify(self, **fields: str | int) -> None:
        """Send ``KEY=value`` lines, e.g. ``notify(READY=1, STATUS="3 cameras")``."""
        if not self._address:
            return
        message = "\n".join(f"{key}={value}" for key, value in fields.items()).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK) as sock:
            try:
                sock.sendto(message, self._address)
            except OSError:
                pass  # systemd went away (shutdown) or its queue is full: nothing useful to do

    def watchdog_interval(self) -> float | None:
        """Half of WatchdogSec, as systemd recommends, or None when no watchdog is set."""
        usec = os.environ.get("WATCHDOG_USEC")
        if not usec or not self._address:
            return None
        pid = os.environ.get("WATCHDOG_PID")
        if pid and int(pid) != os.getpid():
            return None
        return int(usec) / 2_000_000
