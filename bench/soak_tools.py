"""Pieces of the soak (``bench/soak.py``): a gate in front of the broker, the recorder, /proc sampling.

The cameras and the broker are the tests' own (``tests/support``); what is
here is only what the soak adds:

- ``Gate``: a TCP relay the daemon connects through. When the broker is
  killed, the relay drops the daemon's connection and refuses new ones until
  the recorder has subscribed to the restarted broker. Without it, a daemon
  that reconnects first would deliver its outbox to nobody, and the soak
  would count a race of its own as lost events.
- ``EventRecorder``: tests/support's ``MqttRecorder`` (paho, MQTT 5, QoS 2
  subscription, automatic reconnect) that counts its subscriptions, so a
  restart can wait for the next one.
- ``sample_tree``: RSS, threads and open fds of the daemon and of every
  process below it (the encoder's forkserver pool), from /proc.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.broker import Mosquitto, MqttRecorder, free_port  # noqa: E402 - tests/ is put on the path above
from support.rtsp_relay import close_quietly  # noqa: E402

__all__ = ["EventRecorder", "Gate", "Mosquitto", "TreeSample", "sample_tree"]


class Gate:
    """A loopback TCP relay to ``upstream_port`` on its own port; ``close()`` drops and refuses."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port, self.port = upstream_port, free_port()
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def close(self) -> None:
        listener, self._listener = self._listener, None
        with self._lock:
            sockets, self._open = self._open + ([listener] if listener else []), []
        for sock in sockets:
            close_quietly(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=2)
            except OSError:
                close_quietly(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, target), daemon=True).start()


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        close_quietly(source)
        close_quietly(target)


class EventRecorder(MqttRecorder):
    """Records ``<prefix>/#``; ``subscriptions`` counts SUBACKs (one per (re)connection)."""

    def __init__(self, broker: Mosquitto, topic_filter: str) -> None:
        super().__init__(broker, topic_filter, client_id="face01d-soak-recorder")
        self.subscriptions = 0
        self._subscribed_again = threading.Condition()
        self._client.on_subscribe = self._on_subscribe
        self._client.reconnect_delay_set(min_delay=1, max_delay=2)

    def _on_subscribe(self, *args: object) -> None:
        self._subscribed.set()
        with self._subscribed_again:
            self.subscriptions += 1
            self._subscribed_again.notify_all()

    def wait_subscription(self, after: int, timeout: float) -> bool:
        """Whether a subscription numbered above ``after`` arrived within ``timeout`` seconds."""
        with self._subscribed_again:
            return self._subscribed_again.wait_for(lambda: self.subscriptions > after, timeout)

    def event_ids(self) -> Counter[str]:
        """How many times each event id arrived on an ``.../event`` topic."""
        ids: Counter[str] = Counter()
        for message in self.messages():
            if message.topic.endswith("/event"):
                ids[str(json.loads(message.payload).get("id"))] += 1
        return ids


@dataclass(frozen=True)
class TreeSample:
    """One look at the daemon (``main_*``) and at it plus its descendants (``total_*``)."""

    at_s: float
    processes: int
    main_rss_mb: float
    total_rss_mb: float
    main_threads: int
    total_threads: int
    main_fds: int
    total_fds: int


def sample_tree(pid: int, at_s: float) -> TreeSample | None:
    """None when ``pid`` is gone; processes that end while being read are left out."""
    looks = [look for look in map(_look, [pid, *_descendants(pid)]) if look is not None]
    if not looks or looks[0][0] != pid:
        return None
    main = looks[0]
    return TreeSample(at_s, len(looks), main[1] / 1024, sum(x[1] for x in looks) / 1024, main[2],
                      sum(x[2] for x in looks), main[3], sum(x[3] for x in looks))


def _look(pid: int) -> tuple[int, int, int, int] | None:
    """(pid, VmRSS kB, Threads, open fds) from /proc, or None if it vanished."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, ValueError, KeyError):  # gone, or a zombie (no VmRSS)
        return None
    return pid, int(fields["VmRSS"].split()[0]), int(fields["Threads"]), fds


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = [], list(children.get(pid, []))
    while todo:
        found.append(todo.pop())
        todo += children.get(found[-1], [])
    return found
