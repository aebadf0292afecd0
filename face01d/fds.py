"""File descriptors: the soft limit raised at start, and how many the HTTP server may hold.

A client socket, a camera's capture, a snapshot being written, the outbox's
database: each is a file descriptor, and at the soft limit (often 1,024)
every ``open()`` fails, whoever asked. So the daemon raises its soft limit
to the hard one at start (``LimitNOFILE=`` in the systemd unit sets both),
keeps a reserve for what it opens itself, and lets the HTTP server hold the
rest, up to ``[http] max_connections``.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass

NOFILE_CEILING = 65536  # raised no further: nothing here needs more, and children inherit it
RESERVE_SPARE = 64  # snapshots, thumbnails and crops being written, the outbox, the MQTT socket, logs
RESERVE_PER_CAMERA = 16  # a capture's sockets and FFmpeg's files, a reconnect's second socket
RESERVE_PER_WORKER = 8  # a vision worker process: its pipes, its sentinel, shared-memory blocks
MIN_CONNECTIONS = 8  # /healthz and /metrics still answer on a process with a tiny limit


def raise_soft_limit() -> tuple[int, int]:
    """The soft RLIMIT_NOFILE raised to the hard limit (at most ``NOFILE_CEILING``); (soft, hard) after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = NOFILE_CEILING if hard == resource.RLIM_INFINITY else min(hard, NOFILE_CEILING)
    if soft != resource.RLIM_INFINITY and soft < ceiling:
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
        soft = ceiling
    return soft, hard


def open_descriptors() -> int:
    """How many descriptors this process holds now (Linux's /proc; elsewhere a guess)."""
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # less the one listdir opened
    except OSError:
        return RESERVE_SPARE


@dataclass(frozen=True)
class FdBudget:
    """The soft limit, and the descriptors kept back from the HTTP server."""

    soft: int
    open_now: int
    reserve: int  # open_now and what cameras, workers and outputs will open

    def connections(self, wanted: int) -> int:
        """How many connections the server may hold: ``wanted``, or what the limit leaves."""
        return max(MIN_CONNECTIONS, min(wanted, self.soft - self.reserve))


def fd_budget(cameras: int, worker_processes: int) -> FdBudget:
    """The budget now: what is open, plus a reserve for the cameras and workers still to start."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    soft = NOFILE_CEILING if soft == resource.RLIM_INFINITY else soft
    open_now = open_descriptors()
    reserve = open_now + RESERVE_SPARE + RESERVE_PER_CAMERA * cameras + RESERVE_PER_WORKER * worker_processes
    return FdBudget(soft, open_now, reserve)
