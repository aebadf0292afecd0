"""A damaged outbox file: noticed, moved aside, and what SQLite can still read carried over.

A corrupt outbox (cut short, garbage in a page, a zeroed header) must not
stop the daemon as a config error would (exit 3, which systemd does not
restart): the events still readable are worth more than the file. So the
file is renamed aside with its ``-wal`` (kept for a person, named in the
log), its rows are read one stretch at a time, each read that fails is
skipped, and the rows that pass a check (the payload is the event whose id
the row names) go into a fresh outbox, with their order.

Python's ``sqlite3`` has no ``.recover``, and the CLI's (3.40) fails here,
so the reading is ours: a range scan that restarts past each row it cannot
read, over the file as it is and over a copy whose header is mended (a
zeroed one rebuilt, a page count that a file cut short contradicts
ignored). What it cannot do: read a row whose page is garbage, rows held
only in the -wal of a file whose header is gone, a file whose first pages
are gone.

``found`` looks at the files before SQLite does, for two losses SQLite
itself cannot see (issue 12): a database file cut to 0 bytes opens as a new
empty outbox, and so does one whose ``-wal`` was deleted after a crash (its
``-shm`` is left behind, which is how we know). Both are said, not mended.

Every function here runs on the outbox's thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Found", "OutboxCorrupt", "Repair", "found", "is_corruption", "move_aside", "quick_check", "salvage"]

PAGE_SIZE = 4096  # SQLite's default; the outbox never sets another
RETRIES_MAX = 20_000  # sequence numbers skipped one at a time (unreadable, or gaps) before giving up
MENDED_COPY_MAX = 1 << 30  # bytes of a corrupt file copied for the second reading
_CORRUPT = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
_MAGIC = b"SQLite format 3\x00"
_SELECT = ("SELECT seq, id, camera, accepted_at, payload FROM events WHERE seq >= ? AND seq <= ? "
           "ORDER BY seq")
Row = tuple[int, str, str, float, bytes]


class OutboxCorrupt(sqlite3.DatabaseError):
    """``PRAGMA quick_check`` found damage that no statement has tripped on yet."""


@dataclass(frozen=True, slots=True)
class Found:
    """What the files said before SQLite opened them."""

    empty: bool = False  # an existing database file of 0 bytes, without a -wal
    wal_missing: bool = False  # a -shm left by a crash, its -wal gone


@dataclass(frozen=True, slots=True)
class Repair:
    """A corrupt outbox, moved aside; ``carried`` of its rows are in the fresh one."""

    moved_to: Path
    error: str
    carried: int


def found(path: Path) -> Found:
    """Look at the outbox's files before SQLite opens (and creates or tidies) them."""
    wal, shm = _companion(path, "-wal"), _companion(path, "-shm")
    try:
        empty = path.stat().st_size == 0 and not wal.exists()
    except FileNotFoundError:
        return Found()
    return Found(empty=empty, wal_missing=shm.exists() and not wal.exists())


def is_corruption(exc: BaseException) -> bool:
    """Damage in the file (mend it), as opposed to a file we may not write (the user's to fix)."""
    return isinstance(exc, OutboxCorrupt) or getattr(exc, "sqlite_errorcode", None) in _CORRUPT


def quick_check(db: sqlite3.Connection) -> None:
    """Raise OutboxCorrupt unless SQLite's ``quick_check`` says ok."""
    result = [row[0] for row in db.execute("PRAGMA quick_check")]
    if result != ["ok"]:
        raise OutboxCorrupt(f"quick_check: {' '.join(result)[:300]}")


def move_aside(path: Path) -> Path:
    """Rename the file and its -wal to ``<name>.corrupt-<UTC time>``; drop its -shm (an index SQLite rebuilds)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    for number in range(2, 1000):  # never over an earlier one
        if not aside.exists():
            break
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{number}")
    os.replace(path, aside)
    wal = _companion(path, "-wal")
    if wal.exists():
        os.replace(wal, _companion(aside, "-wal"))
    _companion(path, "-shm").unlink(missing_ok=True)
    return aside


def salvage(aside: Path) -> list[Row]:
    """The rows of a corrupt outbox that can still be read and pass the check, in order.

    Read twice: as it is (with its -wal), then from a copy whose header is
    mended (see ``_mended_copy``); a row read either way is kept.
    """
    rows: dict[int, Row] = {}
    copy = _mended_copy(aside)
    try:
        for source in (aside, copy):
            rows = {row[0]: row for row in _rows_of(source)} | rows  # the first reading wins
    finally:
        copy.unlink(missing_ok=True)
    return [rows[seq] for seq in sorted(rows)]


def _rows_of(path: Path) -> list[Row]:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return []
    try:
        return [row for row in _readable(db) if _plausible(row)]
    finally:
        db.close()


def _readable(db: sqlite3.Connection) -> list[Row]:
    """Range scans from the lowest sequence number to the highest. A scan stops at a page it
    cannot read (an error) or misreads (garbage row ids end it early); the next one starts
    after its last row, or one further when it read none."""
    if (bounds := _bounds(db)) is None:
        return []  # not one bound readable: every scan would fail at the same root page
    low, high = bounds
    rows: list[Row] = []
    misses = 0
    while low <= high and misses < RETRIES_MAX:
        start = low
        with contextlib.suppress(sqlite3.Error):
            for row in db.execute(_SELECT, (low, high)):
                rows.append(row)
                low = row[0] + 1
        if low == start:
            low, misses = low + 1, misses + 1
    return rows


def _bounds(db: sqlite3.Connection) -> tuple[int, int] | None:
    """Lowest and highest sequence numbers, as far as they can be read; None if neither can."""
    low = _first_int(db, ("SELECT min(seq) FROM events",))
    high = _first_int(db, ("SELECT seq FROM sqlite_sequence WHERE name = 'events'", "SELECT max(seq) FROM events"))
    if low is None and high is None:
        return None
    low = low if low is not None else 0
    return low, high if high is not None else low + RETRIES_MAX


def _first_int(db: sqlite3.Connection, queries: tuple[str, ...]) -> int | None:
    """The first of ``queries`` that reads an integer."""
    for query in queries:
        try:
            value = db.execute(query).fetchone()
        except sqlite3.Error:
            continue
        if value and isinstance(value[0], int):
            return value[0]
    return None


def _plausible(row: Row) -> bool:
    """A row from a damaged page can be garbage: keep it only if its payload is the event it names."""
    seq, event_id, camera, accepted_at, payload = row
    if not (isinstance(event_id, str) and isinstance(camera, str) and isinstance(payload, bytes)
            and isinstance(accepted_at, float)):
        return False
    try:
        event = json.loads(payload)
    except ValueError:
        return False
    return isinstance(event, dict) and event.get("id") == event_id and event.get("camera") == camera


def _mended_copy(aside: Path) -> Path:
    """A copy of ``aside`` that SQLite reads as far as the file goes.

    A zeroed header gets a standard one (the outbox never sets a page size:
    SQLite's default). Any header is told to ignore the -wal (the first
    reading had it) and to take the page count from the file's size, not
    from the header, which a file cut short contradicts.
    """
    data = bytearray(aside.read_bytes()[:MENDED_COPY_MAX])
    if data[:16] != _MAGIC and len(data) >= 100:
        data[:100] = bytes(100)
        data[:16] = _MAGIC
        data[16:18] = PAGE_SIZE.to_bytes(2, "big")
        data[20:24] = bytes([0, 64, 32, 32])  # no reserved bytes; the fixed payload fractions
        data[44:48] = (4).to_bytes(4, "big")  # schema format 4
        data[56:60] = (1).to_bytes(4, "big")  # UTF-8
    if len(data) >= 100:
        data[18:20] = bytes([1, 1])  # a rollback-journal file: the copy has no -wal
        data[92:96] = (int.from_bytes(data[24:28], "big") + 1).to_bytes(4, "big")  # page count: from the size
    copy = aside.with_name(aside.name + ".mended")
    copy.write_bytes(bytes(data))
    return copy


def _companion(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)
