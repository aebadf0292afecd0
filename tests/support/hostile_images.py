"""Images whose headers lie about their size, built in a few kilobytes of memory.

A small JPEG is encoded, then its frame header (SOFn) is rewritten to declare
``width`` × ``height``: libjpeg believes it, finds the data short, and fills
the rest grey, so a decoder that trusts the header allocates the declared
size. ``padding`` bytes of comment segments before the frame header push it
past the first mebibyte, where a header reader given only a prefix misses it.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np

_SEGMENT = 65533  # the most a JPEG comment segment carries


def forged_jpeg(width: int, height: int, padding: int = 0, progressive: bool = False) -> bytes:
    """A JPEG of a few kB (plus ``padding``) that declares ``width`` × ``height`` pixels."""
    image = np.full((64, 64, 3), 128, np.uint8)
    cv2.rectangle(image, (10, 10), (40, 40), (0, 0, 255), -1)
    jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive)])[1].tobytes()
    sof = jpeg.find(b"\xff\xc2" if progressive else b"\xff\xc0")
    jpeg = jpeg[: sof + 5] + struct.pack(">HH", height, width) + jpeg[sof + 9 :]
    return jpeg[:2] + comments(padding) + jpeg[2:]


def comments(size: int) -> bytes:
    """``size`` bytes of payload in JPEG comment (COM) segments."""
    sizes = [_SEGMENT] * (size // _SEGMENT) + ([size % _SEGMENT] if size % _SEGMENT else [])
    return b"".join(b"\xff\xfe" + struct.pack(">H", n + 2) + b"\0" * n for n in sizes)


def png(width: int, height: int, depth: int = 8, colour: int = 2) -> bytes:
    """A genuine ``width`` × ``height`` PNG of one grey, compressed row by row (a few hundred kB)."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour] * depth // 8
    compressor = zlib.compressobj(9)
    row = b"\0" + b"\x80" * (width * channels)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
