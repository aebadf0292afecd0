"""Free loopback ports for test servers, chosen outside the kernel's ephemeral range.

A port from ``bind(("127.0.0.1", 0))`` lies in the ephemeral range
(``/proc/sys/net/ipv4/ip_local_port_range``, 32768–60999 by default), the
range the kernel also picks a connecting socket's own port from. A client
that retries a stopped server many times a second (the MQTT sink during a
broker outage) then sometimes gets that very port as its own: TCP's
simultaneous open connects the socket to itself (paho logs "Unrecognised
command 16", its own CONNECT read back), and the restarted server fails
with "Address already in use". A port below the range can never be handed
to a connecting socket, so a server can be stopped and started on it again.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

__all__ = ["free_port"]

EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_PORT = 10000  # clear of the well-known and the usual service ports
_handed_out: set[int] = set()  # never hand one port to two servers of one test run


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(part) for part in EPHEMERAL_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default
    return low, high


def _candidates() -> list[int]:
    low, high = _ephemeral_range()
    ports = [port for port in range(LOWEST_PORT, 65536) if not low <= port <= high and port not in _handed_out]
    random.shuffle(ports)
    return ports


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody holds now and that no connecting socket can be given."""
    for port in _candidates():
        if _bindable(port):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free loopback port outside the ephemeral range {_ephemeral_range()}")
