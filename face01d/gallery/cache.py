"""On-disk cache of gallery encodings, keyed by file content and settings.

Encoding a gallery costs about a second per image on an edge box, and the
daemon rebuilds it at every start and SIGHUP, so results are kept per file
content (SHA-256), not per path or mtime: a renamed file costs nothing, an
edited one is encoded again. Results depend on the encoder's settings
(landmarks, jitters, detector) and on how the image was decoded (the pixel
cap of huge photos), so the cache also stores the caller's ``settings_key``
and ``decode_key`` and is ignored as a whole when either differs: every
verdict, encodings and "left out" face counts alike, is then recomputed. A
cache written before decode keys existed has none, and is recomputed too.

The format is one ``.npz`` written atomically (temp file + ``os.replace``)
and read with ``allow_pickle=False``: a cache file can never run code, and a
crash while writing leaves the previous cache intact.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog

from face01d.private_files import write_private_atomic  # creates the folder, 0700
from face01d.safe_files import chunks_of_regular, read_regular

log = structlog.get_logger(__name__)

CACHE_FILENAME = "encodings-v1.npz"
FORMAT_VERSION = 1
ENCODING_SIZE = 128
MAX_FILE_BYTES = 200 * 1024 * 1024  # vision.image.MAX_IMAGE_BYTES: a larger file is refused there anyway
MAX_CACHE_BYTES = 1 << 30  # about 800,000 images; a FIFO or a device in its place is corrupt, not waited on


def default_cache_dir(gallery: Path) -> Path:
    """Where a gallery's cache lives unless ``[gallery].cache_dir`` says otherwise.

    Not inside the gallery: that folder may be read-only, shared or synced
    between machines. systemd's CacheDirectory, else the XDG cache folder,
    one sub-folder per gallery path.
    """
    base = os.environ.get("CACHE_DIRECTORY", "").split(":")[0] or os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base else Path.home() / ".cache"
    digest = hashlib.sha256(str(Path(gallery).resolve()).encode("utf-8")).hexdigest()[:16]
    return root / "face01d" / f"gallery-{digest}"


@dataclass(frozen=True, slots=True)
class CachedResult:
    """What encoding one file's content gave: the face count, and the
    encoding when there was exactly one face (no-face results are cached
    too, so a bad image is not re-analysed at every start)."""

    faces: int
    encoding: np.ndarray | None


class CacheCorrupt(Exception):
    """The cache file exists but cannot be trusted."""


def file_digest(path: Path, limit: int = MAX_FILE_BYTES) -> str:
    """Hex SHA-256 of a regular file's content (``safe_files``: a FIFO put in the gallery
    is refused at once, a device or a file over ``limit`` bytes is not read without end)."""
    digest = hashlib.sha256()
    for chunk in chunks_of_regular(path, limit):
        digest.update(chunk)
    return digest.hexdigest()


def load_cache(cache_dir: Path, settings_key: str, decode_key: str) -> dict[str, CachedResult]:
    """The cached results for ``settings_key`` and ``decode_key``; empty when there are none.

    Raises ``CacheCorrupt`` for an unreadable or inconsistent file, so the
    caller can warn and rebuild instead of failing the daemon's start.
    """
    path = cache_dir / CACHE_FILENAME
    if not path.exists():
        return {}
    try:
        with np.load(io.BytesIO(read_regular(path, MAX_CACHE_BYTES)), allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            digests, faces, encodings = archive["digests"], archive["faces"], archive["encodings"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise CacheCorrupt(f"{path}: {exc}") from exc
    _check_shapes(path, meta, digests, faces, encodings)
    if meta.get("settings_key") != settings_key:
        log.info("gallery_cache_settings_changed", path=str(path))
        return {}
    if meta.get("decode_key") != decode_key:
        log.info("gallery_cache_decode_changed", path=str(path), cached=meta.get("decode_key"), now=decode_key)
        return {}
    return {str(d): _result(int(n), e) for d, n, e in zip(digests, faces, encodings)}


def _result(faces: int, encoding: np.ndarray) -> CachedResult:
    return CachedResult(faces, encoding.copy() if faces == 1 else None)


def _check_shapes(path: Path, meta: object, digests: np.ndarray, faces: np.ndarray, encodings: np.ndarray) -> None:
    count = len(digests)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        raise CacheCorrupt(f"{path}: unknown cache format")
    if faces.shape != (count,) or encodings.shape != (count, ENCODING_SIZE):
        raise CacheCorrupt(f"{path}: inconsistent array shapes")
    if not np.isfinite(encodings).all():
        raise CacheCorrupt(f"{path}: non-finite encodings")


def save_cache(cache_dir: Path, settings_key: str, decode_key: str, results: dict[str, CachedResult]) -> None:
    """Replace the cache with exactly ``results`` (deleted files are forgotten)."""
    digests = sorted(results)
    encodings = np.zeros((len(digests), ENCODING_SIZE), dtype=np.float64)
    for row, digest in enumerate(digests):
        if results[digest].encoding is not None:
            encodings[row] = results[digest].encoding
    arrays = {
        "meta": np.array(
            json.dumps({"format": FORMAT_VERSION, "settings_key": settings_key, "decode_key": decode_key})
        ),
        "digests": np.array(digests, dtype="<U64"),
        "faces": np.array([results[d].faces for d in digests], dtype=np.int64),
        "encodings": encodings,
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_private_atomic(cache_dir / CACHE_FILENAME, buffer.getvalue(), durable=True)
