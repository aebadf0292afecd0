"""The durable event outbox: every accepted event stays on disk until the broker has it.

One SQLite file in WAL mode. An event is committed here *before* it is
published and deleted after the broker's PUBACK, so a broker outage, a
SIGKILL or a power cut loses nothing that was accepted; a crash between the
PUBACK and the delete means one duplicate after restart (at least once:
consumers de-duplicate by the event's ``id``).

Durability, chosen per statement: inserts commit with ``synchronous=FULL``
(the WAL is fsynced, so an accepted event survives a power cut); deletes
commit with ``synchronous=NORMAL`` (no fsync: a delete lost to a power cut
costs one redelivery, not an event, and draining a long outage does not
cost one fsync per event on an SD card). Both survive a process crash.

Bounded by count and by age: beyond either the oldest rows are dropped and
reported to the caller, who counts and logs them.

At open, ``PRAGMA quick_check`` looks for damage; a corrupt file is moved
aside and its readable rows carried into a fresh one (``outbox_repair.py``),
so a damaged file costs the events it can no longer give, not the daemon.

Every SQLite call runs on one dedicated thread (connections are
thread-bound); the ``async`` methods only hand work to it, so the event loop
never waits on the disk. Rows are delivered in insertion order (``seq``),
which keeps each camera's events in order.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from face01d.private_files import FILE_MODE, make_private_dirs
from face01d.sinks import outbox_repair
from face01d.sinks.outbox_repair import Found, Repair

__all__ = ["Opened", "Outbox", "Pending", "Stored", "Trimmed", "default_outbox_path"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    camera TEXT NOT NULL,
    accepted_at REAL NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    camera TEXT NOT NULL,
    accepted_at REAL NOT NULL,
    payload BLOB NOT NULL,
    rejected_at REAL NOT NULL,
    error TEXT NOT NULL
);
"""
_TRIM_FULL = "DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq DESC LIMIT -1 OFFSET ?)"
_TRIM_OLD = "DELETE FROM events WHERE accepted_at < ?"
REJECTED_KEEP = 100  # set-aside events kept for a person to inspect; older ones are deleted


def default_outbox_path(node_id: str) -> Path:
    """``$STATE_DIRECTORY/outbox.sqlite3`` under systemd, else
    ``$XDG_STATE_HOME/face01d/<node_id>-outbox.sqlite3`` (``~/.local/state``)."""
    state = os.environ.get("STATE_DIRECTORY")
    if state:
        return Path(state.split(":")[0]) / "outbox.sqlite3"
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "face01d" / f"{node_id.replace(os.sep, '_')}-outbox.sqlite3"


@dataclass(frozen=True, slots=True)
class Pending:
    """An accepted event, serialised, not yet on disk."""

    event_id: str
    camera: str
    payload: bytes
    accepted_at: float  # time.time()


@dataclass(frozen=True, slots=True)
class Stored:
    """An event in the outbox, waiting for the broker."""

    seq: int
    event_id: str
    camera: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Trimmed:
    """What a bound dropped, and how many rows are left."""

    full: int = 0  # beyond outbox_max_events
    old: int = 0  # older than outbox_max_age_s
    count: int = 0


@dataclass(frozen=True, slots=True)
class Opened:
    """What opening the outbox found: its rows after the bounds, a repair, files that say events were lost."""

    trimmed: Trimmed
    repair: Repair | None = None
    found: Found = Found()


class Outbox:
    """The SQLite outbox; call its coroutines from the event loop, one file per instance."""

    def __init__(self, path: Path, max_events: int, max_age_s: float) -> None:
        self.path = path
        self._max_events = max_events
        self._max_age_s = max_age_s
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="mqtt-outbox")
        self._db: sqlite3.Connection | None = None  # owned by the executor's thread

    async def open(self) -> Opened:
        """Create or open the file (0600, folder 0700), mend a corrupt one, and apply the bounds.

        Raises OSError or sqlite3.Error for a file that cannot be written (or moved aside).
        """
        return await self._call(self._open)

    async def add(self, rows: Sequence[Pending]) -> Trimmed:
        """Commit ``rows`` (one durable transaction), then apply the bounds."""
        return await self._call(self._add, list(rows))

    async def head(self, limit: int) -> tuple[list[Stored], Trimmed]:
        """The oldest ``limit`` rows, after dropping those past the age bound."""
        return await self._call(self._head, limit)

    async def remove(self, seq: int) -> None:
        """The broker has it: forget it."""
        await self._call(self._remove, seq)

    async def reject(self, row: Stored, error: str) -> None:
        """Move an event the broker will never take to the ``rejected`` table."""
        await self._call(self._reject, row, error)

    async def count(self) -> int:
        return await self._call(self._count)

    async def close(self) -> None:
        """Close the file once the thread has done everything asked of it before."""
        try:
            await self._call(self._close)
        finally:
            self._executor.shutdown(wait=False)

    async def _call(self, function: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    # -- the outbox thread ---------------------------------------------------------------

    def _open(self) -> Opened:
        make_private_dirs(self.path.parent)
        found = outbox_repair.found(self.path)
        repair = None
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as exc:
            if not outbox_repair.is_corruption(exc):
                raise
            repair = self._repair(str(exc))
        return Opened(self._trim(), repair, found)

    def _connect(self) -> sqlite3.Connection:
        """Open (or create) the file and check it; raises for a corrupt one."""
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE))  # exists before SQLite opens it
        os.chmod(self.path, FILE_MODE)  # the -wal and -shm files take the database's mode
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            outbox_repair.quick_check(db)
            db.executescript(_SCHEMA)
        except BaseException:
            db.close()
            raise
        return db

    def _repair(self, error: str) -> Repair:
        """Move the corrupt file aside, open a fresh one, carry the readable rows into it (one commit)."""
        aside = outbox_repair.move_aside(self.path)
        rows = outbox_repair.salvage(aside)
        db = self._db = self._connect()
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT INTO events (seq, id, camera, accepted_at, payload) VALUES (?, ?, ?, ?, ?)", rows)
        return Repair(aside, error, len(rows))

    def _add(self, rows: list[Pending]) -> Trimmed:
        db = self._conn("FULL")
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO events (id, camera, accepted_at, payload) VALUES (?, ?, ?, ?)",
                [(row.event_id, row.camera, row.accepted_at, row.payload) for row in rows],
            )
            return self._trim()

    def _head(self, limit: int) -> tuple[list[Stored], Trimmed]:
        db = self._conn("NORMAL")
        with db:
            db.execute("BEGIN IMMEDIATE")
            trimmed = self._trim()
        cursor = db.execute("SELECT seq, id, camera, payload FROM events ORDER BY seq LIMIT ?", (limit,))
        return [Stored(*row) for row in cursor], trimmed

    def _trim(self) -> Trimmed:
        """Drop beyond the bounds (inside the caller's transaction, if any)."""
        db = self._conn()
        old = db.execute(_TRIM_OLD, (time.time() - self._max_age_s,)).rowcount
        full = db.execute(_TRIM_FULL, (self._max_events,)).rowcount
        return Trimmed(full=full, old=old, count=self._count())

    def _remove(self, seq: int) -> None:
        self._conn("NORMAL").execute("DELETE FROM events WHERE seq = ?", (seq,))

    def _reject(self, row: Stored, error: str) -> None:
        db = self._conn("FULL")
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "INSERT OR REPLACE INTO rejected SELECT seq, id, camera, accepted_at, payload, ?, ? FROM events WHERE seq = ?",
                (time.time(), error, row.seq),
            )
            db.execute("DELETE FROM events WHERE seq = ?", (row.seq,))
            db.execute("DELETE FROM rejected WHERE seq IN (SELECT seq FROM rejected ORDER BY seq DESC LIMIT -1 OFFSET ?)",
                       (REJECTED_KEEP,))

    def _count(self) -> int:
        return self._conn().execute("SELECT count(*) FROM events").fetchone()[0]

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _conn(self, synchronous: str | None = None) -> sqlite3.Connection:
        if self._db is None:
            raise sqlite3.ProgrammingError(f"outbox {self.path} is not open")
        if synchronous is not None:
            self._db.execute(f"PRAGMA synchronous={synchronous}")
        return self._db
