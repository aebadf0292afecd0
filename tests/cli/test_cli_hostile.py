"""Hostile input on the command line: one clear line, the documented exit code, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def face01d(*args: str | Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "face01d", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("text", [
    "", "[gallery]\npath = 'g'\n", "[[cameras]]\nname='a'\nsource='a.mp4'\nenabled=false\n",
])
def test_run_without_an_enabled_camera_exits_3(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    result = face01d("run", "-c", path, "--once")
    assert result.returncode == 3
    assert result.stderr.startswith(f"face01d: error: {path}: cameras: ") and "Traceback" not in result.stderr


def test_config_check_only_warns_about_no_camera(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("")
    result = face01d("config", "check", "-c", path)
    assert result.returncode == 0, result.stderr
    assert f"WARNING: {path}: cameras: no [[cameras]] table" in result.stderr


@pytest.mark.parametrize("command", [("config", "check"), ("run",)])
def test_a_directory_as_config_exits_3(tmp_path: Path, command: tuple[str, ...]) -> None:
    result = face01d(*command, "-c", tmp_path)
    assert result.returncode == 3
    assert result.stderr == f"face01d: error: {tmp_path}: is a directory, not a config file\n"


def test_gallery_check_reports_a_symlink_loop_and_a_control_character(tmp_path: Path, data) -> None:
    shutil.copy(data.face01_images / "person1.png", tmp_path / "alice_1.png")
    os.symlink("b_1.jpg", tmp_path / "a_1.jpg")
    os.symlink("a_1.jpg", tmp_path / "b_1.jpg")
    (tmp_path / "eve\n_1.png").write_bytes(b"x")
    result = face01d("gallery", "check", tmp_path)
    assert result.returncode == 5 and "Traceback" not in result.stderr
    assert result.stdout.splitlines() == [
        f"{tmp_path}/a_1.jpg: skipped: unreadable: symlink loop",
        f"{tmp_path}/b_1.jpg: skipped: unreadable: symlink loop",
        f"{tmp_path}/eve\\x0a_1.png: skipped: control character in the name",
    ]
    built = face01d("gallery", "build", tmp_path)
    assert built.returncode == 0 and "1 people, 1 encodings" in built.stdout  # the rest still loads
