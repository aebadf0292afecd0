"""Raw-socket clients that misbehave on purpose: half a request head, a body that stops, a reader that never reads.

Blocking sockets, used from a worker thread (``asyncio.to_thread``) when the
server runs in the test's own loop. ``wait_closed`` tells how long after its
opening each socket saw the server close it (end of file or a reset).
"""

from __future__ import annotations

import os
import selectors
import socket
import time
from dataclasses import dataclass, field

HALF_HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow"  # no end of the head, ever


@dataclass
class SlowClient:
    """One connection, when it was opened, and what the server sent on it."""

    sock: socket.socket
    opened_at: float
    received: bytearray = field(default_factory=bytearray)
    closed_after: float | None = None  # seconds from opening to the server's close


def connect(port: int, first_bytes: bytes = b"", receive_buffer: int | None = None) -> SlowClient:
    """A connection to 127.0.0.1:port that sends ``first_bytes`` and then nothing."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:  # before connecting, so the window offered to the server is this small
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", port))
    client = SlowClient(sock, time.monotonic())
    if first_bytes:
        sock.sendall(first_bytes)
    return client


def wait_closed(clients: list[SlowClient], timeout: float) -> list[SlowClient]:
    """Read until the server closes each connection, at most ``timeout`` s; those still open are returned."""
    with selectors.DefaultSelector() as selector:
        for client in clients:
            selector.register(client.sock, selectors.EVENT_READ, client)
        deadline = time.monotonic() + timeout
        while selector.get_map() and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                if _read_closed(key.data):
                    selector.unregister(key.fileobj)
        return [key.data for key in selector.get_map().values()]


def _read_closed(client: SlowClient) -> bool:
    try:
        data = client.sock.recv(65536)
    except ConnectionResetError:
        data = b""
    client.received += data
    if not data:
        client.closed_after = time.monotonic() - client.opened_at
    return not data


def close_all(clients: list[SlowClient]) -> None:
    for client in clients:
        client.sock.close()


def open_descriptors(pid: int) -> int:
    """How many file descriptors process ``pid`` holds."""
    return len(os.listdir(f"/proc/{pid}/fd"))
