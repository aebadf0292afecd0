"""Images given for enrollment: checked as the gallery builder checks them, stored in a format it reads.

What ``gallery add`` accepts must be what the gallery builder later encodes,
so an upload is decoded exactly as ``face01d.vision.image.load_image`` decodes
a file (same size limits, same reduced decoding of huge photos, no EXIF
rotation) and checked with the gallery's own detector (HOG, then the CNN on
small images). The original bytes are kept when they are JPEG, PNG or WebP;
anything else OpenCV can read (BMP, TIFF) is stored as a lossless PNG.
"""

from __future__ import annotations

import cv2
import numpy as np

from face01d.config.models import GalleryConfig
from face01d.errors import ImageReadError, InputError
from face01d.recognition.recognizer import gallery_encoder

_MAGIC = ((b"\xff\xd8\xff", ".jpg"), (b"\x89PNG\r\n\x1a\n", ".png"))


class NotOneFace(InputError):
    """An enrollment image with no face or several: the gallery would leave it out."""

    def __init__(self, label: str, faces: int) -> None:
        why = "no face found" if faces == 0 else f"{faces} faces found"
        super().__init__(f"{label}: {why}; an enrollment image must hold exactly one face")
        self.faces = faces


def stored_form(data: bytes, rgb: np.ndarray) -> tuple[str, bytes]:
    """(suffix, bytes) to write into the gallery: the original when the gallery reads its format."""
    for magic, suffix in _MAGIC:
        if data.startswith(magic):
            return suffix, data
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp", data
    ok, buffer = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ImageReadError("the image could not be re-encoded as PNG")
    return ".png", buffer.tobytes()


def require_one_face(config: GalleryConfig, rgb: np.ndarray, label: str) -> None:
    """NotOneFace unless the gallery's own detector finds exactly one face (seconds: call off the loop)."""
    faces = len(gallery_encoder(config)(rgb))
    if faces != 1:
        raise NotOneFace(label, faces)
