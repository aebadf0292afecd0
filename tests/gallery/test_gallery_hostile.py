"""Hostile galleries: symlink loops, control characters, huge images. Each file
is reported with its reason and the rest of the gallery loads."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from face01d import decoding as decoding_module
from face01d.config.models import GalleryConfig
from face01d.errors import ImageReadError
from face01d.gallery import build_gallery, scan_gallery
from face01d.recognition.keeper import GalleryKeeper
from face01d.vision.image import DETECTION_MAX_PIXELS, load_image
from gallery_helpers import SETTINGS_KEY, copy_into


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_symlink_loop_and_broken_link_are_skipped_with_the_reason(tmp_path: Path) -> None:
    touch(tmp_path / "Ann_1.png")
    os.symlink("b_1.jpg", tmp_path / "a_1.jpg")
    os.symlink("a_1.jpg", tmp_path / "b_1.jpg")
    os.symlink("nowhere.jpg", tmp_path / "c_1.jpg")
    (tmp_path / "Bob").mkdir()
    os.symlink("x.jpg", tmp_path / "Bob" / "x.jpg")  # a link to itself
    scan = scan_gallery(tmp_path)
    assert [entry.name for entry in scan.entries] == ["Ann"]
    assert dict((path.name, why) for path, why in scan.skipped) == {
        "a_1.jpg": "unreadable: symlink loop",
        "b_1.jpg": "unreadable: symlink loop",
        "c_1.jpg": "unreadable: broken symlink",
        "x.jpg": "unreadable: symlink loop",
    }


def test_a_looping_cache_dir_does_not_crash_the_scan(tmp_path: Path) -> None:
    os.symlink("loop", tmp_path / "loop")
    touch(tmp_path / "Ann_1.png")
    assert [entry.name for entry in scan_gallery(tmp_path, cache_dir=tmp_path / "loop" / "cache").entries] == ["Ann"]


@pytest.mark.parametrize("control", ["\n", "\t", "\x1b", "\x7f", "\x85"])
def test_control_characters_in_a_name_are_refused(tmp_path: Path, control: str) -> None:
    touch(tmp_path / f"eve{control}x_1.jpg")
    touch(tmp_path / f"Dan{control}" / "a.jpg")
    touch(tmp_path / "Fay" / f"a{control}.jpg")
    scan = scan_gallery(tmp_path)
    assert scan.entries == ()
    assert {why for _, why in scan.skipped} == {"control character in the name"}


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width``×``height`` (no pixel data: it need not decode)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(
        b"IEND", b"")


@pytest.mark.parametrize("side, message", [
    (11000, "11000×11000 pixels is over the limit of 100,000,000"),
    (20000, "too many pixels, refused: Image size"),  # Pillow's own decompression-bomb guard
])
def test_an_image_over_the_pixel_cap_is_refused_from_its_header(tmp_path: Path, side: int, message: str) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(side, side))
    with pytest.raises(ImageReadError, match=rf"bomb\.png: {message}"):
        load_image(path)


def test_a_file_over_the_byte_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decoding_module, "MAX_IMAGE_BYTES", 10)  # where the file read is bounded
    path = tmp_path / "big.png"
    path.write_bytes(b"x" * 11)
    with pytest.raises(ImageReadError, match=r"big\.png: 11 bytes is over the limit of 10"):
        load_image(path)


def test_a_huge_image_is_decoded_reduced(huge_face: Path) -> None:
    rgb = load_image(huge_face, max_pixels=DETECTION_MAX_PIXELS)
    assert rgb.shape[0] * rgb.shape[1] <= DETECTION_MAX_PIXELS and rgb.shape[2] == 3
    assert rgb.shape[1] >= 1000  # reduced to fit, not to a thumbnail


def test_a_huge_image_costs_little_memory(huge_face: Path) -> None:
    """Peak memory of a fresh process (VmHWM: ru_maxrss would inherit the big pytest parent's peak)."""
    script = ("import re, sys; from face01d.vision.image import load_image, DETECTION_MAX_PIXELS; "
              "load_image(sys.argv[1], max_pixels=DETECTION_MAX_PIXELS); "
              "print(re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1))")
    result = subprocess.run([sys.executable, "-c", script, str(huge_face)], capture_output=True, text=True,
                            timeout=120, check=True)
    assert int(result.stdout) < 300_000, f"peak RSS {int(result.stdout) // 1024} MB"  # full decode: ~570 MB


def test_a_huge_gallery_image_is_one_face_and_quick(tmp_path: Path, huge_face: Path, encode_faces) -> None:
    copy_into(tmp_path / "g", huge_face, "obama_1.jpg")
    started = time.monotonic()
    gallery, report = build_gallery(tmp_path / "g", encode_faces, SETTINGS_KEY, cache_dir=tmp_path / "cache")
    assert gallery.people == ("obama",) and report.multiple_faces == () and report.left_out == 0
    assert time.monotonic() - started < 20


async def test_the_daemon_logs_each_skipped_file(tmp_path: Path, data) -> None:
    folder = tmp_path / "g"
    copy_into(folder, data.face01_images / "person1.png", "alice_1.png")
    touch(folder / "noname.png")
    touch(folder / "eve\n_1.png")
    os.symlink("b_1.jpg", folder / "a_1.jpg")
    os.symlink("a_1.jpg", folder / "b_1.jpg")
    touch(folder / ".DS_Store")
    keeper = GalleryKeeper(GalleryConfig(path=folder, cache_dir=tmp_path / "cache"))
    try:
        with capture_logs() as logs:
            gallery = await keeper.load()
    finally:
        keeper.close()
    assert gallery.people == ("alice",)
    skipped = {Path(log["path"]).name: log["reason"] for log in logs if log["event"] == "gallery_file_skipped"}
    assert skipped == {
        "noname.png": "flat file name must be NAME_anything",
        "eve\n_1.png": "control character in the name",
        "a_1.jpg": "unreadable: symlink loop",
        "b_1.jpg": "unreadable: symlink loop",
    }
    [loaded] = [log for log in logs if log["event"] == "gallery loaded"]
    assert sorted(Path(path).name for path in loaded["skipped"]) == sorted(skipped)
