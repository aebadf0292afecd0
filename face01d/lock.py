"""Single-instance locks: one per config file and one per local camera device.

Two daemons on one config would publish every event twice; two on one USB
camera fight over the device (FACE01 guarded against this too). An advisory
``flock`` is released by the kernel when the process dies, even by SIGKILL,
so a crash never leaves a stale lock behind. The holder's PID is written into
the file so the error can say who holds it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import tempfile
from pathlib import Path

from face01d.errors import LockedError


def default_lock_dir() -> Path:
    """systemd's RuntimeDirectory, else the user's runtime dir, else the temp dir."""
    for variable in ("RUNTIME_DIRECTORY", "XDG_RUNTIME_DIR"):
        if os.environ.get(variable):
            return Path(os.environ[variable].split(":")[0])
    return Path(tempfile.gettempdir())


def usb_device_key(source: str | int) -> str:
    """One lock name per device, however the config spells it (0, "0", "/dev/video0")."""
    text = str(source)
    return f"/dev/video{text}" if text.isdigit() else text


def lock_path_for(key: str, lock_dir: Path) -> Path:
    """A stable, readable file name for whatever ``key`` names (a path, a device)."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", key)[-40:].strip("_")
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    return lock_dir / f"face01d-{readable}-{digest}.lock"


class InstanceLock:
    """Holds exclusive flocks on a set of lock files until ``release``."""

    def __init__(self) -> None:
        self._held: list[tuple[Path, int]] = []

    def acquire(self, path: Path, what: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_NOFOLLOW: in a shared /tmp, a planted symlink must not redirect the truncate below
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(descriptor)
            raise LockedError(f"{what} is already in use by another face01d (pid {holder}, lock {path})") from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        self._held.append((path, descriptor))

    def release(self) -> None:
        for _path, descriptor in reversed(self._held):
            fcntl.flock(descriptor, fcntl.LOCK_UN)
            os.close(descriptor)
        self._held.clear()
