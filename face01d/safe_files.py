"""Reading a file that someone else put there: only a regular file, only so many bytes.

A gallery is a folder people drop things into. ``open()`` on a FIFO blocks
until a writer comes (for ever: the daemon never became ready, and SIGTERM
could not stop it), and a symlink to ``/dev/zero`` is read without end. So
a file is opened non-blocking, checked with ``fstat`` on the opened
descriptor (no window between a check and the open for it to be swapped),
refused unless it is a regular file, and read up to a bound. ``describe``
names what a path is, for the reason a file is skipped.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHUNK = 1 << 20
_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


class NotRegularFile(OSError):
    """The path is there but is no regular file (a FIFO, a device, a socket, a folder)."""


class FileTooLarge(OSError):
    """A regular file over the caller's byte bound; ``size`` is what fstat said."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


def kind(mode: int) -> str:
    """What a ``st_mode`` is, in words ("a FIFO"); "a regular file" for one."""
    return next((name for test, name in _KINDS if test(mode)), "a regular file" if stat.S_ISREG(mode) else "no file")


def irregular(path: Path) -> str | None:
    """What ``path`` (followed if a symlink) is when it is neither a regular file nor a folder,
    e.g. "a symlink to a FIFO"; None when it is one. ``os.stat`` never opens it: no FIFO blocks it."""
    mode = os.stat(path).st_mode
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return f"a symlink to {kind(mode)}" if os.path.islink(path) else kind(mode)


@contextmanager
def open_regular(path: Path, *, follow: bool = True) -> Iterator[tuple[int, int]]:
    """``(fd, size)`` of ``path`` opened read-only; NotRegularFile unless a regular file.

    O_NONBLOCK: opening a FIFO returns at once instead of waiting for a
    writer (on a regular file the flag changes nothing). ``follow=False``
    refuses a symlink itself (ELOOP from O_NOFOLLOW).
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:  # ENXIO: a UNIX socket cannot be opened at all
        if exc.errno != errno.ENXIO:
            raise
        raise NotRegularFile(f"{kind(os.stat(path).st_mode)}, not a regular file") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(f"{kind(info.st_mode)}, not a regular file")
        yield fd, info.st_size
    finally:
        os.close(fd)


def read_regular(path: Path, limit: int, *, follow: bool = True) -> bytes:
    """The content of the regular file ``path``, at most ``limit`` bytes (FileTooLarge beyond).

    Reads at most ``limit + 1`` bytes whatever fstat said: a file that grows
    while it is read is refused too, never read without end.
    """
    with open_regular(path, follow=follow) as (fd, size):
        if size > limit:
            raise FileTooLarge(f"{size:,} bytes is over the limit of {limit:,}", size)
        data = _read_up_to(fd, limit + 1)
    if len(data) > limit:
        raise FileTooLarge(f"over the limit of {limit:,} bytes", len(data))
    return data


def chunks_of_regular(path: Path, limit: int) -> Iterator[bytes]:
    """``read_regular`` in chunks of CHUNK bytes (hashing a file without holding it whole)."""
    with open_regular(path) as (fd, size):
        if size > limit:
            raise FileTooLarge(f"{size:,} bytes is over the limit of {limit:,}", size)
        total = 0
        while chunk := os.read(fd, CHUNK):
            total += len(chunk)
            if total > limit:
                raise FileTooLarge(f"over the limit of {limit:,} bytes", total)
            yield chunk


def _read_up_to(fd: int, count: int) -> bytes:
    parts: list[bytes] = []
    left = count
    while left > 0 and (chunk := os.read(fd, min(left, CHUNK))):
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)
