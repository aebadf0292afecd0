"""Image decoding and pre-processing: the one place colour order is handled.

Every detector and the encoder take C-contiguous uint8 RGB; cameras deliver
BGR (OpenCV), files may be RGBA, greyscale or 16-bit. Converting here, once,
keeps colour mistakes out of the rest of the code. The bytes are decoded by
``face01d.decoding``, the one bounded decode (re-exported here for callers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from face01d.config.models import SetArea
from face01d.decoding import (DECODE_BUDGET_BYTES, DECODE_CONCURRENCY, DECODES, MAX_IMAGE_BYTES,  # noqa: F401
                              MAX_IMAGE_PIXELS, decode_bytes, decode_frame, read_image_bytes)
from face01d.errors import ImageReadError

Color = Literal["bgr", "rgb"]

# Bounds for hostile or careless input. A gallery photo is decoded to at most
# DETECTION_MAX_PIXELS (an 8000×8000 photo took 3 GB and a minute, and HOG
# found "3 faces" in it); JPEGs are decoded at 1/2, 1/4 or 1/8 directly.
DETECTION_MAX_PIXELS = 4_000_000
DECODE_VERSION = 1  # bump when decoding changes what a detector sees (reduction, interpolation, orientation)
def _to_uint8(image: np.ndarray) -> np.ndarray:
    """Scale 16-bit (or other integer/float) pixels into uint8."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        peak = 1.0 if float(np.nanmax(image, initial=0.0)) <= 1.0 else 255.0
        return np.clip(image * (255.0 / peak), 0, 255).astype(np.uint8)
    return np.clip(image, 0, 255).astype(np.uint8)


def to_rgb(image: np.ndarray, color: Color = "bgr") -> np.ndarray:
    """Return a C-contiguous uint8 H×W×3 RGB copy/view of any common layout.

    ``color`` says the channel order of 3/4-channel input; greyscale has none.
    """
    if color not in ("bgr", "rgb"):
        raise ValueError(f"color must be 'bgr' or 'rgb', not {color!r}")
    image = _to_uint8(np.asarray(image))
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_GRAY2RGB))
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"not an image: shape {image.shape}")
    if image.shape[2] == 4:
        code = cv2.COLOR_BGRA2RGB if color == "bgr" else cv2.COLOR_RGBA2RGB
        return np.ascontiguousarray(cv2.cvtColor(image, code))
    rgb = image[:, :, ::-1] if color == "bgr" else image
    return np.ascontiguousarray(rgb)


def decode_key(max_pixels: int | None) -> str:
    """Names how images are decoded for detection: a face count cached under another decode
    (a full-size 8000×8000 photo: "3 faces") is recomputed, not trusted until the file changes."""
    return f"decode-v{DECODE_VERSION};max_pixels={max_pixels}"


def load_image(path: Path, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as RGB; reading the bytes in Python makes non-ASCII paths work.

    cv2.imread fails silently on UTF-8 (e.g. Japanese) paths on some platforms,
    so the bytes are read here and decoded by OpenCV. ``max_pixels``: a
    larger image is decoded reduced and shrunk to fit (coordinates are then
    those of the smaller image; ``load_image_scaled`` says how to map them
    back). Files over MAX_IMAGE_BYTES or MAX_IMAGE_PIXELS, or that would
    hold more than DECODE_BUDGET_BYTES even reduced, are refused with the reason.
    """
    return load_image_scaled(path, max_pixels)[0]


def load_image_scaled(path: Path, max_pixels: int | None = None) -> tuple[np.ndarray, tuple[float, float]]:
    """``load_image``, and the (vertical, horizontal) factors that map the result's pixel
    coordinates back to the file's own: a box found in a capped decode of a
    huge photo is reported where it is in that photo."""
    decoded, (width, height) = decode_bytes(read_image_bytes(Path(path)), path, max_pixels)
    rgb = to_rgb(decoded, "bgr")
    return rgb, (height / rgb.shape[0], width / rgb.shape[1])


def decode_image_bytes(data: bytes, label: str, max_pixels: int | None = None) -> np.ndarray:
    """RGB uint8 of an encoded image (an upload), decoded as ``load_image`` decodes a file: the same
    limits, the same reduced decoding of huge photos; ImageReadError naming ``label`` otherwise."""
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageReadError(f"{label}: {len(data):,} bytes is over the limit of {MAX_IMAGE_BYTES:,}")
    decoded, _ = decode_bytes(data, label, max_pixels)
    try:
        return to_rgb(decoded, "bgr")
    except ValueError as error:
        raise ImageReadError(f"{label}: {error}") from None


def resize_to_width(image: np.ndarray, width: int, interpolation: int = cv2.INTER_AREA) -> tuple[np.ndarray, float]:
    """Shrink to ``width`` (FACE01's set_width); return image and back-factor.

    0 or a width at least the current one leaves the image unchanged (factor
    1.0). Multiplying a coordinate in the result by the factor gives the
    coordinate in the original. ``INTER_AREA`` averages every source pixel
    (what HOG's gradients need); ``INTER_LINEAR`` reads four per output pixel,
    a quarter of the cost on a 1080p frame.
    """
    height, current = image.shape[:2]
    if width <= 0 or width >= current:
        return image, 1.0
    new_height = max(1, round(height * width / current))
    resized = cv2.resize(image, (width, new_height), interpolation=interpolation)
    return resized, current / width


def crop_area(image: np.ndarray, area: SetArea) -> tuple[np.ndarray, int, int]:
    """Cut FACE01's set_area out of the frame; return the view and its (dy, dx)."""
    height, width = image.shape[:2]
    half_h, half_w = height // 2, width // 2
    spans = {
        SetArea.NONE: (0, height, 0, width),
        SetArea.TOP_LEFT: (0, half_h, 0, half_w),
        SetArea.TOP_RIGHT: (0, half_h, half_w, width),
        SetArea.BOTTOM_LEFT: (half_h, height, 0, half_w),
        SetArea.BOTTOM_RIGHT: (half_h, height, half_w, width),
        SetArea.CENTER: (height // 4, height * 3 // 4, width // 4, width * 3 // 4),
    }
    top, bottom, left, right = spans[SetArea(area)]
    return image[top:bottom, left:right], top, left
