"""A real ``face01d run`` over a gallery holding things that are not regular files.

A FIFO, a symlink to /dev/zero, a character device, a UNIX socket and a
symlink to a FIFO, at start or dropped in while the daemon watches: each is
skipped with its reason (never opened: a FIFO blocked the load for ever,
/dev/zero was read without end), the daemon starts, and SIGTERM stops it
within shutdown_timeout_s.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.irregular_files import plant_irregular_files

SHUTDOWN_TIMEOUT_S = 5.0  # the e2e config's [daemon] shutdown_timeout_s
CAMERA = {"name": "door", "kind": "snapshot", "source": "http://127.0.0.1:9/door.jpg"}  # refused: no frames to analyse
WORKERS = {"detect": "thread", "encode": "thread", "threads": 1}


def one_person(folder: Path, data) -> None:
    folder.mkdir()
    shutil.copyfile(data.face01_images / "person1.png", folder / "alice_1.png")


def skipped(daemon) -> dict[str, str]:
    return {Path(r["path"]).name: r["reason"] for r in daemon.logs() if r.get("event") == "gallery_file_skipped"}


def wait_until(daemon, condition: Callable[[list[dict[str, Any]]], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition(daemon.logs()):
        assert time.monotonic() < deadline and daemon.process.poll() is None, daemon.stderr[-3000:]
        time.sleep(0.1)


def assert_sigterm_stops(daemon) -> None:
    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(SHUTDOWN_TIMEOUT_S) == 0
    assert time.monotonic() - started < SHUTDOWN_TIMEOUT_S


def test_irregular_files_at_start_are_skipped_and_sigterm_stops(tmp_path, data, daemon_config, run_daemon) -> None:
    gallery = tmp_path / "g"
    one_person(gallery, data)
    expected = plant_irregular_files(gallery)
    config = daemon_config([CAMERA], gallery={"path": str(gallery)}, workers=WORKERS)
    daemon = run_daemon(config, "--stdout")
    daemon.wait_for_log("daemon started", timeout=120)
    assert skipped(daemon) == expected
    [loaded] = [r for r in daemon.logs() if r.get("event") == "gallery loaded"]
    assert loaded["people"] == 1 and sorted(Path(p).name for p in loaded["skipped"]) == sorted(expected)
    assert_sigterm_stops(daemon)


def test_a_fifo_dropped_into_the_watched_gallery_is_skipped_on_reload(
    tmp_path, data, daemon_config, run_daemon
) -> None:
    gallery = tmp_path / "g"
    one_person(gallery, data)
    daemon = run_daemon(daemon_config([CAMERA], gallery={"path": str(gallery)}, workers=WORKERS), "--stdout")
    daemon.wait_for_log("daemon started", timeout=120)
    daemon.wait_for_log("watching gallery")
    os.mkfifo(gallery / "Fifo_1.png")
    wait_until(daemon, lambda logs: sum(r.get("event") == "gallery loaded" for r in logs) == 2)
    assert skipped(daemon) == {"Fifo_1.png": "not a regular file: a FIFO"}
    assert_sigterm_stops(daemon)
