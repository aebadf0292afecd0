"""Snapshot retention: delete by age, then the oldest until under the size cap.

Only files in ``ROOT/<camera>/<YYYY-MM-DD>/`` are touched, so a snapshot
folder set by mistake to a folder holding other files cannot empty it.
Runs in a thread (it walks the disk); files vanishing meanwhile are fine.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from pathlib import Path

SECONDS_PER_DAY = 86400.0
_DATE_DIR = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True, slots=True)
class PruneResult:
    deleted: int  # files removed
    freed: int  # bytes removed
    kept: int  # bytes left
    errors: int  # files or folders that could not be removed


@dataclass(frozen=True, slots=True)
class _File:
    path: Path
    mtime: float
    size: int


def date_dirs(root: Path) -> list[Path]:
    """The ``<camera>/<YYYY-MM-DD>`` folders under ``root``."""
    if not root.is_dir():
        return []
    cameras = [entry for entry in root.iterdir() if entry.is_dir() and not entry.is_symlink()]
    return [d for c in cameras for d in c.iterdir() if d.is_dir() and _DATE_DIR.fullmatch(d.name)]


def snapshot_files(root: Path) -> list[_File]:
    """Every regular file in a date folder, oldest first."""
    files = []
    for folder in date_dirs(root):
        for entry in os.scandir(folder):
            try:
                if entry.is_file(follow_symlinks=False):
                    info = entry.stat(follow_symlinks=False)
                    files.append(_File(Path(entry.path), info.st_mtime, info.st_size))
            except OSError:
                continue  # vanished meanwhile
    return sorted(files, key=lambda f: f.mtime)


def select_victims(files: list[_File], max_age_s: float, max_bytes: float, now: float) -> list[_File]:
    """Files to delete from ``files`` (oldest first): too old, then the oldest over the cap. 0: no limit."""
    victims = [f for f in files if max_age_s > 0 and now - f.mtime > max_age_s]
    rest = files[len(victims) :]  # sorted by age, so the too old are a prefix
    total = sum(f.size for f in rest)
    for f in rest:
        if max_bytes <= 0 or total <= max_bytes:
            break
        victims.append(f)
        total -= f.size
    return victims


def prune(root: Path, retention_days: float, max_mb: float, now: float) -> PruneResult:
    """Apply retention under ``root``; then remove empty date folders."""
    files = snapshot_files(root)
    victims = select_victims(files, retention_days * SECONDS_PER_DAY, max_mb * 1024 * 1024, now)
    deleted = freed = errors = 0
    for victim in victims:
        try:
            os.unlink(victim.path)
        except FileNotFoundError:
            continue
        except OSError:
            errors += 1
            continue
        deleted, freed = deleted + 1, freed + victim.size
    kept = sum(f.size for f in files) - sum(v.size for v in victims)
    return PruneResult(deleted, freed, kept, errors + remove_empty_date_dirs(root))


def remove_empty_date_dirs(root: Path) -> int:
    """Remove empty date folders; the number that could not be removed for another reason."""
    errors = 0
    for folder in date_dirs(root):
        try:
            folder.rmdir()
        except OSError as exc:
            errors += exc.errno not in (errno.ENOTEMPTY, errno.ENOENT)  # expected: in use, or gone
    return errors
