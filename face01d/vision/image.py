"""Image decoding and pre-processing: the one place colour order is handled.

Every detector and the encoder take C-contiguous uint8 RGB; cameras deliver
BGR (OpenCV), files may be RGBA, greyscale or 16-bit. Converting here, once,
keeps colour mistakes out of the rest of the code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from face01d.config.models import SetArea
from face01d.errors import ImageReadError

Color = Literal["bgr", "rgb"]


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


def load_image(path: Path) -> np.ndarray:
    """Read an image file as RGB; ``np.fromfile`` makes non-ASCII paths work.

    cv2.imread fails silently on UTF-8 (e.g. Japanese) paths on some platforms,
    so the bytes are read by numpy and decoded by OpenCV.
    """
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: no such file")
    if path.is_dir():
        raise ImageReadError(f"{path}: is a directory, not an image")
    try:
        raw = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    decoded = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED) if raw.size else None
    if decoded is None:
        raise ImageReadError(f"{path}: not a decodable image")
    return to_rgb(decoded, "bgr")


def resize_to_width(image: np.ndarray, width: int) -> tuple[np.ndarray, float]:
    """Shrink to ``width`` (FACE01's set_width); return image and back-factor.

    0 or a width at least the current one leaves the image unchanged (factor
    1.0). Multiplying a coordinate in the result by the factor gives the
    coordinate in the original.
    """
    height, current = image.shape[:2]
    if width <= 0 or width >= current:
        return image, 1.0
    new_height = max(1, round(height * width / current))
    resized = cv2.resize(image, (width, new_height), interpolation=cv2.INTER_AREA)
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
