"""Gallery entries that are no regular file (a FIFO, a device, a socket, a symlink to one): skipped with the
reason, never opened the blocking way, never read without end; and reserved or unprintable names."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from face01d.daemon_executor import DaemonThreadExecutor
from face01d.errors import ImageReadError
from face01d.gallery import build_gallery, scan_gallery
from face01d.gallery.cache import CACHE_FILENAME, file_digest
from face01d.gallery.layout import is_reserved, printable
from face01d.safe_files import FileTooLarge, NotRegularFile, read_regular
from face01d.vision.image import load_image
from gallery_helpers import SETTINGS_KEY, copy_into
from support.irregular_files import plant_irregular_files


def test_each_kind_is_skipped_with_its_reason(tmp_path: Path, data) -> None:
    copy_into(tmp_path, data.face01_images / "person1.png", "alice_1.png")
    expected = plant_irregular_files(tmp_path)
    os.mkfifo(tmp_path / ".pipe")  # hidden: only hidden, whatever it is
    scan = scan_gallery(tmp_path)
    assert [entry.name for entry in scan.entries] == ["alice"]
    assert dict((path.name, why) for path, why in scan.skipped) == {**expected, ".pipe": "hidden"}


@pytest.mark.parametrize("name, kind", [("Fifo_1.png", "a FIFO"), ("Zero_1.png", "a character device"),
                                        ("Pipe_1.png", "a FIFO"), ("Sock_1.png", "a socket")])
def test_reads_refuse_at_once(tmp_path: Path, name: str, kind: str) -> None:
    """What a file swapped in after the scan meets: the image loader and the cache's hash refuse, never wait."""
    plant_irregular_files(tmp_path)
    started = time.monotonic()
    with pytest.raises(ImageReadError, match=f"{name}: {kind}, not a regular file"):
        load_image(tmp_path / name)
    with pytest.raises(NotRegularFile, match=kind):
        file_digest(tmp_path / name)
    assert time.monotonic() - started < 2


def test_reading_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(b"x" * 11)
    assert read_regular(path, 11) == b"x" * 11
    with pytest.raises(FileTooLarge, match="11 bytes is over the limit of 10"):
        read_regular(path, 10)
    with pytest.raises(FileTooLarge):
        file_digest(path, limit=10)
    os.symlink("a.png", tmp_path / "link.png")
    with pytest.raises(OSError):  # follow=False: the link itself is refused (ELOOP)
        read_regular(tmp_path / "link.png", 100, follow=False)


def test_gallery_check_finishes_on_a_fifo(tmp_path: Path, data) -> None:
    copy_into(tmp_path, data.face01_images / "person1.png", "alice_1.png")
    os.mkfifo(tmp_path / "Fifo_1.png")
    result = subprocess.run([sys.executable, "-m", "face01d", "gallery", "check", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 5, result.stderr
    assert result.stdout.splitlines() == [f"{tmp_path}/Fifo_1.png: skipped: not a regular file: a FIFO"]


def test_reserved_and_line_breaking_names_are_skipped(tmp_path: Path, data) -> None:
    copy_into(tmp_path, data.face01_images / "person1.png", "alice_1.png")
    copy_into(tmp_path, data.face01_images / "person1.png", "unknown_1.png")
    copy_into(tmp_path / "ＵＮＫＮＯＷＮ", data.face01_images / "person1.png", "a.png")
    copy_into(tmp_path, data.face01_images / "person1.png", "a\u2028b_1.png")
    scan = scan_gallery(tmp_path)
    assert [entry.name for entry in scan.entries] == ["alice"]
    assert dict((path.name, why) for path, why in scan.skipped) == {
        "unknown_1.png": "the name Unknown is what face01d calls a stranger",
        "ＵＮＫＮＯＷＮ": "the name Unknown is what face01d calls a stranger",
        "a\u2028b_1.png": "control character in the name",
    }
    assert printable(Path("a\u2028b\n")) == "a\\u2028b\\x0a"
    assert is_reserved("ＵＮＫＮＯＷＮ") and is_reserved("unKnown") and not is_reserved("Unknowns")


def test_the_daemon_executor_runs_in_order_and_reports_errors() -> None:
    executor = DaemonThreadExecutor("test")
    try:
        first, second = executor.submit(lambda: 1), executor.submit(int, "x")
        assert first.result(5) == 1
        with pytest.raises(ValueError):
            second.result(5)
    finally:
        executor.shutdown()


def test_a_stuck_call_does_not_hold_the_exit(tmp_path: Path) -> None:
    """A blocking open() of a FIFO (as a read on a hung NFS mount): the process exits anyway."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    script = ("import sys, time; from face01d.daemon_executor import DaemonThreadExecutor; "
              "e = DaemonThreadExecutor('stuck'); e.submit(open, sys.argv[1], 'rb'); time.sleep(0.2); "
              "e.shutdown(wait=False, cancel_futures=True); print('left')")
    result = subprocess.run([sys.executable, "-c", script, str(fifo)], capture_output=True, text=True, timeout=30)
    assert (result.returncode, result.stdout) == (0, "left\n"), result.stderr


def test_a_fifo_in_place_of_the_cache_is_a_corrupt_cache(tmp_path: Path, data, encode_faces) -> None:
    copy_into(tmp_path / "g", data.face01_images / "person1.png", "alice_1.png")
    (tmp_path / "cache").mkdir()
    os.mkfifo(tmp_path / "cache" / CACHE_FILENAME)
    gallery, report = build_gallery(tmp_path / "g", encode_faces, SETTINGS_KEY, cache_dir=tmp_path / "cache")
    assert gallery.people == ("alice",)
    assert report.cache_problem is not None and "a FIFO, not a regular file" in report.cache_problem
    assert (tmp_path / "cache" / CACHE_FILENAME).is_file()  # replaced by a real cache
