"""A gallery folder's worst neighbours: one of each kind of entry that is not a regular file."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def plant_irregular_files(folder: Path) -> dict[str, str]:
    """A FIFO, symlinks to /dev/zero, /dev/null and a FIFO, a UNIX socket; the reason each is skipped with, by name."""
    folder.mkdir(parents=True, exist_ok=True)
    os.mkfifo(folder / "Fifo_1.png")
    os.symlink("/dev/zero", folder / "Zero_1.png")
    (folder / "Dev").mkdir()
    os.symlink("/dev/null", folder / "Dev" / "null.jpg")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(folder / "Sock_1.png"))
    os.symlink("Fifo_1.png", folder / "Pipe_1.png")
    return {"Fifo_1.png": "not a regular file: a FIFO",
            "Zero_1.png": "not a regular file: a symlink to a character device",
            "null.jpg": "not a regular file: a symlink to a character device",
            "Sock_1.png": "not a regular file: a socket",
            "Pipe_1.png": "not a regular file: a symlink to a FIFO"}
