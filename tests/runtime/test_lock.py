"""The single-instance lock: held across processes, released by the kernel on death."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from face01d.errors import ExitCode, LockedError
from face01d.lock import InstanceLock, lock_path_for, usb_device_key

HOLDER = """
import sys, time
from pathlib import Path
from face01d.lock import InstanceLock
lock = InstanceLock(); lock.acquire(Path(sys.argv[1]), "test")
print("held", flush=True); time.sleep(60)
"""


def hold_in_child(path: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_second_holder_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    child = hold_in_child(path)
    try:
        with pytest.raises(LockedError, match=rf"config a.toml is already in use .*pid {child.pid}") as caught:
            InstanceLock().acquire(path, "config a.toml")
        assert caught.value.exit_code is ExitCode.LOCKED
    finally:
        child.kill()
        child.wait()


def test_kill_9_releases_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    child = hold_in_child(path)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    lock = InstanceLock()
    lock.acquire(path, "test")  # no stale lock left behind
    assert path.read_text().strip() == str(os.getpid())
    lock.release()


def test_lock_names_are_stable_and_distinct(tmp_path: Path) -> None:
    assert lock_path_for("/etc/face01d/a.toml", tmp_path) == lock_path_for("/etc/face01d/a.toml", tmp_path)
    assert lock_path_for("usb:0", tmp_path) != lock_path_for("usb:1", tmp_path)
    assert lock_path_for("usb:/dev/video0", tmp_path).parent == tmp_path


def test_one_usb_device_one_lock_however_spelled() -> None:
    assert usb_device_key(0) == usb_device_key("0") == usb_device_key("/dev/video0") == "/dev/video0"


def test_a_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "x.lock").symlink_to(victim)
    with pytest.raises(OSError):
        InstanceLock().acquire(tmp_path / "x.lock", "test")
    assert victim.read_text() == "precious"
