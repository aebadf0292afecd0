"""Files that hold biometric data (snapshots, gallery encodings): private and atomic.

Modes are set explicitly (files 0600, folders 0700) rather than left to the
umask, and a file appears whole or not at all (temp file + rename), so a
crash or a full disk never leaves a truncated snapshot or cache behind.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def make_private_dirs(path: Path) -> None:
    """Create ``path`` and any missing parents with mode 0700 (umask ignored)."""
    if path.is_dir():
        return
    make_private_dirs(path.parent)
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        return
    os.chmod(path, DIR_MODE)


def write_private_atomic(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Write ``data`` to ``path`` as a 0600 file, atomically (temp file + rename).

    ``durable`` adds an fsync before the rename: worth it for a cache that
    took minutes to build, not for snapshots (a power cut may lose one;
    flash wear is worse).
    """
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    except FileNotFoundError:  # folder missing (new day, or retention removed it)
        make_private_dirs(path.parent)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), FILE_MODE)
            file.write(data)
            if durable:
                file.flush()
                os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
