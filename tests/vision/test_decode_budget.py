"""Every decode is sized from its header first and bounded in memory, whatever the header declares."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest
from support.hostile_images import comments, forged_jpeg, png

from face01d.errors import ImageReadError
from face01d.decoding.memory import DecodeMemory
from face01d.decoding.headers import read_header
from face01d.vision.image import (DECODE_BUDGET_BYTES, DETECTION_MAX_PIXELS, decode_frame, decode_image_bytes,
                                  load_image)

MEBIBYTE = 1024 * 1024


def peak_rss_kb(script: str) -> tuple[int, str]:
    """VmHWM of a fresh process that runs ``script`` (the pytest process's own peak says nothing), and its output."""
    code = script + "\nimport re; print(re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    *lines, peak = result.stdout.split()
    return int(peak), " ".join(lines)


def test_a_size_hidden_past_the_first_mebibyte_is_still_read() -> None:
    header = read_header(forged_jpeg(9000, 9000, padding=1_100_000), "x")
    assert (header.width, header.height, header.reducible) == (9000, 9000, True)


def test_junk_between_markers_is_skipped_as_libjpeg_skips_it() -> None:
    original = cv2.imencode(".jpg", np.full((48, 64, 3), 99, np.uint8))[1].tobytes()
    jpeg = original[:2] + comments(10) + b"junk\0\0" + original[2:]
    header = read_header(jpeg, "x")
    assert (header.width, header.height) == (64, 48)
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (48, 64, 3)


def test_a_hidden_size_over_the_pixel_limit_is_refused_before_decoding() -> None:
    peak, said = peak_rss_kb(
        "import sys; sys.path.insert(0, 'tests'); from support.hostile_images import forged_jpeg\n"
        "from face01d.vision.image import decode_image_bytes\n"
        "try: decode_image_bytes(forged_jpeg(20000, 20000, 1_100_000), 'the upload', 4_000_000)\n"
        "except Exception as error: print(type(error).__name__, error)")
    assert said == "ImageReadError the upload: 20000×20000 pixels is over the limit of 100,000,000"
    assert peak < 250_000, f"peak RSS {peak // 1024} MB"  # before: 2.4 GB, the header was not found


def test_a_huge_jpeg_is_decoded_reduced_within_the_budget() -> None:
    frame = decode_frame(forged_jpeg(9000, 9000, padding=1_100_000), "the part")
    assert frame.shape == (4500, 4500, 3) and frame.nbytes <= DECODE_BUDGET_BYTES  # 1/2: the least reduction
    rgb = decode_image_bytes(forged_jpeg(9000, 9000), "the upload", DETECTION_MAX_PIXELS)
    assert rgb.shape == (1125, 1125, 3)  # 1/8 fits the detection cap directly


def test_a_camera_frame_within_the_budget_keeps_its_full_size(data) -> None:  # noqa: ANN001
    jpeg = (data.fr_examples / "obama-1080p.jpg").read_bytes()
    frame = decode_frame(jpeg, "the part")
    assert np.array_equal(frame, cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))
    assert frame.shape[:2] == (1080, 1920)


def test_a_png_over_the_budget_is_refused_naming_the_source_and_sizes() -> None:
    with pytest.raises(ImageReadError) as refused:
        decode_image_bytes(png(5000, 5000), "the upload", DETECTION_MAX_PIXELS)
    assert str(refused.value) == "the upload: decoding this 5000×5000 PNG would take 72 MiB, over the budget of 64 MiB"


def test_a_16_bit_png_counts_two_bytes_a_sample(tmp_path) -> None:  # noqa: ANN001
    assert read_header(png(100, 100, depth=16), "x").pixel_bytes == 6  # Pillow says "RGB", OpenCV keeps 16 bits
    path = tmp_path / "deep.png"
    path.write_bytes(png(3400, 3400, depth=16))  # 66 MiB at 16 bits, 33 MiB at 8
    with pytest.raises(ImageReadError, match=r"deep\.png: decoding this 3400×3400 PNG would take 66 MiB"):
        load_image(path)


def test_a_progressive_jpeg_is_refused_when_its_coefficients_alone_are_over_the_budget() -> None:
    """libjpeg keeps every DCT coefficient of a progressive frame, even for a decode at 1/8."""
    peak, said = peak_rss_kb(
        "import sys; sys.path.insert(0, 'tests'); from support.hostile_images import forged_jpeg\n"
        "from face01d.vision.image import decode_frame\n"
        "try: decode_frame(forged_jpeg(8000, 8000, progressive=True), 'the part')\n"
        "except Exception as error: print(error)")
    assert said.startswith("the part: decoding this 8000×8000 JPEG would take 186 MiB"), said
    assert peak < 250_000, f"peak RSS {peak // 1024} MB"  # before: +190 MB at 1/8
    assert decode_frame(forged_jpeg(2000, 2000, progressive=True), "the part").shape == (2000, 2000, 3)


@pytest.mark.parametrize("data", [b"", b"not an image", b"#?RADIANCE\n" + b"\0" * 64])
def test_an_image_whose_size_cannot_be_read_is_not_decoded(data: bytes) -> None:
    with pytest.raises(ImageReadError, match="the upload: not a decodable image"):
        decode_image_bytes(data, "the upload")


def test_opencv_refuses_what_the_budget_refuses_even_outside_face01d() -> None:
    """OPENCV_IO_MAX_IMAGE_PIXELS, set when face01d is imported: a stray cv2.imdecode is bounded too."""
    _, said = peak_rss_kb(
        "import sys; sys.path.insert(0, 'tests'); from support.hostile_images import png\n"
        "import face01d, cv2, numpy as np\n"
        "from face01d.vision.image import DECODE_BUDGET_BYTES\n"
        "print(DECODE_BUDGET_BYTES // 3)\n"
        "for side in (4000, 5000):\n"
        "    grey = np.frombuffer(png(side, side, colour=0), np.uint8)\n"
        "    try: print(cv2.imdecode(grey, cv2.IMREAD_UNCHANGED).shape[0])\n"
        "    except cv2.error: print('refused')")
    cap, small, big = said.split()
    assert int(cap) * 3 <= DECODE_BUDGET_BYTES and (small, big) == ("4000", "refused")


def test_decodes_in_flight_never_hold_more_than_the_allowance() -> None:
    memory, peaks, lock = DecodeMemory(100), [], threading.Lock()

    def decode(cost: int) -> None:
        with memory.hold(cost):
            with lock:
                peaks.append(memory.used)
            time.sleep(0.02)

    threads = [threading.Thread(target=decode, args=(cost,)) for cost in (60, 60, 30, 100, 10, 60) * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(peaks) == len(threads) and max(peaks) <= 100 and memory.used == 0
    assert 100 in peaks or any(p > 60 for p in peaks)  # decodes did overlap: the bound was the allowance, not one


def test_a_big_decode_is_not_starved_by_small_ones() -> None:
    memory, order, done = DecodeMemory(100), [], threading.Event()

    def decode(name: str, cost: int) -> None:
        with memory.hold(cost):
            order.append(name)
            done.wait(5)

    with memory.hold(50):
        big = threading.Thread(target=decode, args=("big", 100))
        big.start()
        time.sleep(0.05)  # the big one queues first
        small = threading.Thread(target=decode, args=("small", 10))
        small.start()
        time.sleep(0.1)
        assert order == [] and memory.used == 50  # 10 would fit, yet the small one waits its turn
        done.set()
    big.join(5)
    small.join(5)
    assert order == ["big", "small"] and memory.used == 0
