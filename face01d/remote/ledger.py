"""What a node remembers about its remote jobs and its remote encoders.

``Ledger``: the jobs waiting for an answer, and the ids of those recently
over, so that an answer is used once at most: a second answer to the same
job (the resend was answered too) is a duplicate, one for a job given up on
is late; both are counted and dropped. ``Roster``: the workers online in
the node's group, from their retained status topics, so that with none
online a job falls back at once instead of after two deadlines.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from typing import Literal

from face01d.remote.protocol import Answer

FINISHED_MEMORY = 4096  # ids of jobs over, kept to tell a duplicate answer from a late one

Outcome = Literal["used", "duplicate", "late"]


class Ledger:
    """Jobs in flight by id, each an asyncio future for its first answer."""

    def __init__(self) -> None:
        self._pending: dict[str, asyncio.Future[Answer]] = {}
        self._finished: OrderedDict[str, bool] = OrderedDict()  # id → it was answered

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def open(self, job_id: str) -> asyncio.Future[Answer]:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending[job_id] = future
        return future

    def close(self, job_id: str) -> None:
        """The job is over, answered or not: later answers to it are dropped."""
        future = self._pending.pop(job_id, None)
        answered = future is not None and future.done() and not future.cancelled() and future.exception() is None
        self._finished[job_id] = answered
        while len(self._finished) > FINISHED_MEMORY:
            self._finished.popitem(last=False)

    def abandon(self, error: Exception) -> None:
        """Stopping: every job still waiting fails with ``error`` now, not at its deadline."""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)

    def resolve(self, answer: Answer) -> Outcome:
        """Hand ``answer`` to its job if that still waits; else say why it is dropped."""
        future = self._pending.get(answer.id)
        if future is None:
            return "duplicate" if self._finished.get(answer.id) else "late"
        if future.done():
            return "duplicate"
        future.set_result(answer)
        return "used"


class Roster:
    """Workers of one group online now, from ``<prefix>/workers/<id>/status`` (retained, Last Will)."""

    def __init__(self, group: str) -> None:
        self.group = group
        self._online: set[str] = set()

    @property
    def online(self) -> int:
        return len(self._online)

    def heard(self, worker: str, payload: bytes) -> bool | None:
        """A status: JSON ``{"state": "online", "group": ...}``; anything else (offline, cleared) is not online.

        True when the worker came online, False when it left, None when nothing changed.
        """
        try:
            status = json.loads(payload) if payload else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            status = {}
        online = isinstance(status, dict) and status.get("state") == "online" and status.get("group") == self.group
        if online == (worker in self._online):
            return None
        (self._online.add if online else self._online.discard)(worker)
        return online

    def clear(self) -> None:
        """Disconnected: nothing is known until the retained statuses come again."""
        self._online.clear()
