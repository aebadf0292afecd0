"""The people's ``NAME_default`` pictures, decoded once and kept small for the preview.

The gallery can be reloaded while the daemon runs, so the cache asks a
callable for the current path each time and keys on the path and its
modification time: a replaced picture is decoded again, a removed person
draws no thumbnail. Decoded pictures are shrunk to ``THUMBNAIL_MAX_PX``
tall, so the per-frame resize to the box's height is cheap and the cache,
bounded at ``CACHE_MAX`` people, stays a few megabytes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import structlog

from face01d.errors import ImageReadError
from face01d.safe_files import read_regular
from face01d.decoding import MAX_IMAGE_BYTES, decode_frame

log = structlog.get_logger(__name__)

THUMBNAIL_MAX_PX = 192  # decoded thumbnails are at most this tall
CACHE_MAX = 64  # people whose thumbnails are kept; the least recently drawn goes first

ThumbnailPaths = Callable[[str], Path | None]  # name → the person's NAME_default image, None without one


class ThumbnailCache:
    """Decoded, shrunk thumbnails by person; safe to use from several render threads."""

    def __init__(self, paths: ThumbnailPaths, capacity: int = CACHE_MAX) -> None:
        self._paths = paths
        self._capacity = capacity
        self._entries: OrderedDict[tuple[Path, int], np.ndarray | None] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, name: str) -> np.ndarray | None:
        """The person's thumbnail (BGR, read-only), or None when they have none or it cannot be read."""
        key = self._key(name)
        if key is None:
            return None
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        image = load_thumbnail(key[0])  # outside the lock: decoding takes milliseconds
        with self._lock:
            self._entries[key] = image
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        return image

    def __len__(self) -> int:
        return len(self._entries)

    def _key(self, name: str) -> tuple[Path, int] | None:
        path = self._paths(name)
        if path is None:
            return None
        try:
            return path, path.stat().st_mtime_ns
        except OSError:
            return None


def load_thumbnail(path: Path) -> np.ndarray | None:
    """Read and shrink one picture; a broken file is logged and drawn as no thumbnail."""
    try:  # a regular file only, and the one bounded decode every image goes through
        image = decode_frame(read_regular(path, MAX_IMAGE_BYTES), str(path))
    except (OSError, ImageReadError) as error:
        log.warning("preview: thumbnail unreadable", path=str(path), error=str(error))
        return None
    if image.shape[0] > THUMBNAIL_MAX_PX:
        width = max(1, round(image.shape[1] * THUMBNAIL_MAX_PX / image.shape[0]))
        image = cv2.resize(image, (width, THUMBNAIL_MAX_PX), interpolation=cv2.INTER_AREA)
    image.flags.writeable = False
    return image
