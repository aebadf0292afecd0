"""What decoding an image will cost, read from its header before a byte of it is decoded.

A 1 MB JPEG may declare 20,000 × 20,000 pixels, and a decoder believes it:
1.2 GB for one upload. The size must therefore come from the header, and
from the same header the decoder will read: Pillow gives up on a JPEG with
garbage between its markers that libjpeg skips, and reads only what it is
given, so JPEG markers are walked here as libjpeg walks them. The other
formats are sized by Pillow, which opens lazily (header only), and only
when the format Pillow sees is the one OpenCV will pick by the same magic
bytes; an image whose size cannot be read this way is not decoded at all.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from dataclasses import dataclass

from face01d.errors import ImageReadError

MIN_PIXEL_BYTES = 3  # whatever the format, the image ends as 8-bit RGB (to_rgb)
_PROGRESSIVE = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_LOSSLESS = frozenset({0xC3, 0xC7, 0xCB, 0xCF})  # no DCT: no reduced decoding
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RSTn: no length
# Magic bytes OpenCV picks a decoder by → (Pillow's name for the format, decoder buffers per output byte).
_OTHERS = (
    (b"\x89PNG\r\n\x1a\n", "PNG", 1), (b"BM", "BMP", 1), (b"GIF87a", "GIF", 1), (b"GIF89a", "GIF", 1),
    (b"II*\x00", "TIFF", 2), (b"MM\x00*", "TIFF", 2),  # a strip may be the whole image, then copied
    (b"\x00\x00\x00\x0cjP  ", "JPEG2000", 5), (b"\xff\x4f\xff\x51", "JPEG2000", 5),  # OpenJPEG: int32 planes
    *((b"P%d" % n, "PPM", 1) for n in range(1, 7)),
)
_WEBP = ("WEBP", 1)  # RIFF....WEBP: the magic is not a prefix
_PNG_CHANNELS = {0: 1, 2: 3, 3: 4, 4: 4, 6: 4}  # colour type → channels OpenCV gives (palette may gain alpha)


@dataclass(frozen=True, slots=True)
class Header:
    """An image's declared size and what decoding it at 1/``factor`` holds in memory."""

    format: str
    width: int
    height: int
    pixel_bytes: int  # bytes per decoded pixel, all channels, never under MIN_PIXEL_BYTES
    fixed_bytes: int = 0  # held whatever the scale: a progressive JPEG's coefficients
    reducible: bool = False  # libjpeg decodes at 1/2, 1/4, 1/8 directly (DCT scaling)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def scaled_pixels(self, factor: int) -> int:
        """Pixels of a decode at 1/``factor`` (libjpeg rounds up)."""
        return math.ceil(self.width / factor) * math.ceil(self.height / factor)

    def cost(self, factor: int) -> int:
        """Bytes a decode at 1/``factor`` holds at its peak (output and the decoder's own buffers)."""
        return self.scaled_pixels(factor) * self.pixel_bytes + self.fixed_bytes


def read_header(data: bytes, label: str) -> Header:
    """The header of ``data`` (an encoded image); ImageReadError when it cannot be read."""
    header = _jpeg_header(data) if data[:3] == b"\xff\xd8\xff" else _other_header(data, label)
    if header is None:
        raise ImageReadError(f"{label}: not a decodable image (no size can be read from its header)")
    return header


def _jpeg_header(data: bytes) -> Header | None:
    """Walk the markers to the first scan, skipping junk as libjpeg does; None if there is no frame."""
    frame, pos = None, 2
    while (pos := data.find(b"\xff", pos)) >= 0:
        while pos < len(data) and data[pos] == 0xFF:
            pos += 1  # fill bytes
        if pos + 2 >= len(data):
            return None
        marker, pos = data[pos], pos + 1
        if marker == 0x00 or marker in _STANDALONE:
            continue  # libjpeg skips a stuffed 0xFF00 as junk; TEM and RSTn carry nothing
        if marker in (0xD8, 0xD9):
            return None  # a second SOI or an EOI before any scan: libjpeg fails
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2:
            return None  # libjpeg: bad marker length
        body = data[pos + 2 : pos + length]
        if marker in _SOF:
            if frame:
                return None  # libjpeg refuses a second frame header
            frame = (marker, body)
        elif marker == 0xDA:
            return _jpeg_frame(*frame, scan_components=body[0] if body else 0) if frame else None
        pos += length
    return None


def _jpeg_frame(marker: int, sof: bytes, scan_components: int) -> Header | None:
    """A JPEG frame header (SOFn): its size, and whether libjpeg keeps every coefficient of it.

    Progressive and multi-scan frames are decoded from a whole-image buffer of
    DCT coefficients (2 bytes per sample), allocated at full size even for a
    decode at 1/8: a tiny progressive file declaring 8000 × 8000 costs 190 MB.
    """
    if len(sof) < 6 or len(sof) < 6 + 3 * sof[5]:
        return None
    precision, height, width, count = struct.unpack_from(">BHHB", sof)
    sampling = [(sof[7 + 3 * i] >> 4, sof[7 + 3 * i] & 15) for i in range(count)]
    if not (width and height and sampling) or min(min(s) for s in sampling) == 0:
        return None
    fixed = 0
    if marker in _PROGRESSIVE or scan_components < count:
        h_max, v_max = max(h for h, _ in sampling), max(v for _, v in sampling)
        fixed = sum(_blocks(width, h, h_max) * _blocks(height, v, v_max) * 128 for h, v in sampling)
    pixel_bytes = (4 if count == 4 else MIN_PIXEL_BYTES) * (2 if precision > 8 else 1)
    return Header("JPEG", width, height, pixel_bytes, fixed, reducible=marker not in _LOSSLESS)


def _blocks(size: int, factor: int, most: int) -> int:
    """8×8 blocks of a component across ``size`` pixels, padded to whole MCUs (libjpeg's jdinput.c)."""
    return math.ceil(math.ceil(size * factor / (8 * most)) / factor) * factor


def _other_header(data: bytes, label: str) -> Header | None:
    """Pillow's reading of the header, when Pillow sees the format OpenCV will decode."""
    expected = _expected_format(data)
    if expected is None or (opened := _pillow_header(data, label)) is None or opened[0] != expected[0]:
        return None
    name, (width, height), sample_bytes = opened
    channels = _PNG_CHANNELS.get(data[25], 4) if name == "PNG" and len(data) > 25 else 4
    pixel_bytes = max(MIN_PIXEL_BYTES, channels * sample_bytes) * expected[1]
    return Header(name, width, height, pixel_bytes)


def _expected_format(data: bytes) -> tuple[str, int] | None:
    """(Pillow's name, buffer factor) of the decoder OpenCV will choose for ``data``; None for one not sized here."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _WEBP
    return next(((name, overhead) for magic, name, overhead in _OTHERS if data.startswith(magic)), None)


def _pillow_header(data: bytes, label: str) -> tuple[str, tuple[int, int], int] | None:
    """(format, size, bytes per sample) from Pillow's lazy open; ImageReadError for a decompression bomb."""
    from PIL import Image  # a dependency of mediapipe (via matplotlib); imported only for non-JPEG images

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                return str(image.format), image.size, _sample_bytes(image, data)
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"{label}: too many pixels, refused: {exc}") from None
    except Exception:  # not an image Pillow knows: nothing is decoded blind
        return None


def _sample_bytes(image: object, data: bytes) -> int:
    """Bytes per channel OpenCV will keep (IMREAD_UNCHANGED): 16-bit and float images are wider."""
    mode = str(getattr(image, "mode", ""))
    mode_bytes = 4 if mode in ("I", "F") else 2 if "16" in mode else 1
    if data.startswith(b"\x89PNG") and len(data) > 24:
        return max(mode_bytes, 2 if data[24] == 16 else 1)  # IHDR bit depth: Pillow opens 16-bit RGB as "RGB"
    bits = getattr(image, "tag_v2", {}).get(258, (8,))  # TIFF BitsPerSample
    return max(mode_bytes, math.ceil(max(bits if isinstance(bits, tuple) else (bits,)) / 8))
