"""The one decode of untrusted image bytes, bounded before it starts.

Uploads, camera frames (MJPEG parts, JPEG snapshots), gallery files and
thumbnails are all decoded here: the size is read from the header first
(``headers.py``: a JPEG's markers are walked to its frame header, however far
in), a JPEG is decoded at 1/2, 1/4 or 1/8 when it would take more than
``DECODE_BUDGET_BYTES``, anything else over it is refused, and every decode
holds its cost in one process-wide allowance (``memory.py``), so all decodes
at once take at most ``DECODE_CONCURRENCY × DECODE_BUDGET_BYTES``. A neutral
module: capture decodes camera frames with it, vision builds its images on it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from face01d.decoding.headers import Header, read_header
from face01d.decoding.memory import DecodeMemory
from face01d.errors import ImageReadError
from face01d.safe_files import FileTooLarge, NotRegularFile, read_regular

MAX_IMAGE_PIXELS = 100_000_000  # 10000×10000: refused outright, whatever the caller
MAX_IMAGE_BYTES = 200 * 1024 * 1024
MEBIBYTE = 1024 * 1024
# What one decode may hold at its peak (decoded pixels and the decoder's own buffers), whatever its
# header declares: a 1080p frame is 6 MB, 4K 25 MB; a JPEG over it is decoded at 1/2, 1/4 or 1/8,
# anything else refused. OPENCV_IO_MAX_IMAGE_PIXELS (face01d/__init__.py) is this divided by 3.
DECODE_BUDGET_BYTES = 64 * MEBIBYTE
DECODE_CONCURRENCY = 2  # decodes at the full budget at once: all decodes together hold at most
DECODES = DecodeMemory(DECODE_CONCURRENCY * DECODE_BUDGET_BYTES)  # DECODE_CONCURRENCY × DECODE_BUDGET_BYTES
_FILE = (cv2.IMREAD_UNCHANGED, cv2.IMREAD_IGNORE_ORIENTATION)  # files, uploads: as stored, EXIF orientation not applied
_FRAME = (cv2.IMREAD_COLOR, 0)  # camera frames: 3-channel BGR, as cameras have always been read
_REDUCED = ((2, cv2.IMREAD_REDUCED_COLOR_2), (4, cv2.IMREAD_REDUCED_COLOR_4), (8, cv2.IMREAD_REDUCED_COLOR_8))


def decode_frame(data: bytes, label: str) -> np.ndarray:
    """A camera's JPEG (an MJPEG part, a snapshot) as 3-channel BGR: full size within the budget,
    decoded at 1/2, 1/4 or 1/8 when its header declares more; ImageReadError naming ``label`` otherwise."""
    return decode_bytes(data, label, None, _FRAME)[0]


def decode_bytes(data: bytes, label: str | Path, max_pixels: int | None,
                 flags: tuple[int, int] = _FILE) -> tuple[np.ndarray, tuple[int, int]]:
    """OpenCV's decode of ``data``, shrunk to ``max_pixels``, and the (width, height) of the original.

    The one decode of untrusted bytes: sized from the header first, reduced or
    refused so that it holds at most DECODE_BUDGET_BYTES, and run inside the
    process-wide DECODES allowance.
    """
    header = read_header(data, str(label))
    if header.pixels > MAX_IMAGE_PIXELS:
        size = f"{header.width}×{header.height}"
        raise ImageReadError(f"{label}: {size} pixels is over the limit of {MAX_IMAGE_PIXELS:,}")
    factor = _factor(header, max_pixels, label)
    with DECODES.hold(header.cost(factor)):
        decoded = _imdecode(data, _flag(factor, flags), label)
        return _fit(decoded, max_pixels), (header.width, header.height)


def _factor(header: Header, max_pixels: int | None, label: str | Path) -> int:
    """The least JPEG reduction (1, 2, 4, 8) that fits ``max_pixels`` and the budget; refused if none does."""
    fits = [factor for factor in ((1, 2, 4, 8) if header.reducible else (1,))
            if header.cost(factor) <= DECODE_BUDGET_BYTES]
    if not fits:
        cost = header.cost(8 if header.reducible else 1)
        raise ImageReadError(f"{label}: decoding this {header.width}×{header.height} {header.format} would take "
                             f"{cost / MEBIBYTE:,.0f} MiB, over the budget of {DECODE_BUDGET_BYTES // MEBIBYTE} MiB")
    return next((factor for factor in fits if max_pixels is None or header.pixels / factor**2 <= max_pixels), fits[-1])


def _flag(factor: int, flags: tuple[int, int]) -> int:
    """``flags``' full-size flag, or libjpeg's decode at 1/``factor`` (with ``flags``' extra bits)."""
    if factor == 1:
        return flags[0]
    return dict(_REDUCED)[factor] | flags[1]


def _imdecode(data: bytes, flag: int, label: str | Path) -> np.ndarray:
    try:
        decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flag) if data else None
    except cv2.error as error:  # OPENCV_IO_MAX_IMAGE_PIXELS (see face01d/__init__.py), or a broken stream
        raise ImageReadError(f"{label}: refused by the decoder ({error.err or error})") from None
    if decoded is None:
        raise ImageReadError(f"{label}: not a decodable image")
    return decoded


def read_image_bytes(path: Path, label: str | None = None) -> bytes:
    """The file's bytes, at most MAX_IMAGE_BYTES; a FIFO or a device is refused, never waited on or
    read without end (``face01d.safe_files``: opened non-blocking, checked on the open descriptor).
    ImageReadError names ``label`` (the path by default) and why."""
    label = str(path) if label is None else label
    try:
        return read_regular(path, MAX_IMAGE_BYTES)
    except FileNotFoundError:
        raise ImageReadError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise ImageReadError(f"{label}: is a directory, not an image") from None
    except (NotRegularFile, FileTooLarge) as exc:
        raise ImageReadError(f"{label}: {exc}") from None
    except OSError as exc:
        raise ImageReadError(f"{label}: cannot be read ({exc.strerror or exc})") from exc


def _fit(image: np.ndarray, max_pixels: int | None) -> np.ndarray:
    """Shrink (INTER_AREA) so that the image has at most ``max_pixels``."""
    height, width = image.shape[:2]
    if max_pixels is None or height * width <= max_pixels:
        return image
    scale = (max_pixels / (height * width)) ** 0.5
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
