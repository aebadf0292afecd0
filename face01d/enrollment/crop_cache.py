"""The kept unknown crops, read once: their events and 128-D encodings, cached beside them.

Grouping needs every kept crop's encoding on each page view, and encoding
costs ~50 ms a crop (seconds with the CNN fallback): 1,000 crops re-encoded
per view would take a minute. So each crop is encoded once, with the
gallery's own detector and encoder (the groups are later compared with the
gallery, and promoted through its one-face check), and the encoding is kept
in one hidden file, ``<unknown_dir>/.encodings.npz``, with the crop's event
(camera, time). An entry is trusted while the crop's size and mtime and the
encoding settings are unchanged. The file is hidden, so retention
(``unknown.prune_unknown``) and ``gallery promote`` ignore it; it is
rewritten whole (atomically, 0600: encodings are biometric data).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import structlog

from face01d.enrollment.unknown import CROP_SUFFIX, EVENT_SUFFIX
from face01d.errors import ImageReadError
from face01d.faces import Face
from face01d.private_files import write_private_atomic
from face01d.vision.image import DETECTION_MAX_PIXELS, load_image

log = structlog.get_logger(__name__)

CACHE_NAME = ".encodings.npz"
ENCODING_SIZE = 128
CACHE_VERSION = 1  # bump when what an entry means changes

EncodeFaces = Callable[[np.ndarray], Sequence[Face]]
Stamp = tuple[int, int]  # (size, mtime_ns) of the crop when it was encoded


@dataclass(frozen=True, slots=True)
class CropRecord:
    """One kept crop: its event and its encoding (None: no face found in it)."""

    event_id: str
    crop_path: Path
    camera: str
    seen_at: float  # the event's captured_at, epoch seconds
    stamp: Stamp
    encoding: np.ndarray | None


def scan_crops(directory: Path) -> dict[str, tuple[Path, Stamp]]:
    """Every kept crop of ``directory`` by event id, with its stamp; hidden and temp files ignored."""
    found: dict[str, tuple[Path, Stamp]] = {}
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return found
    for entry in entries:
        if entry.name.startswith(".") or not entry.name.endswith(CROP_SUFFIX):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:  # promoted or pruned meanwhile
            continue
        if entry.is_file(follow_symlinks=False):
            found[entry.name[: -len(CROP_SUFFIX)]] = (Path(entry.path), (info.st_size, info.st_mtime_ns))
    return found


def read_event(crop: Path, stamp: Stamp) -> tuple[str, float]:
    """(camera, captured_at) from the crop's event record; ("", the crop's mtime) when it has none."""
    try:
        record = json.loads(crop.with_suffix(EVENT_SUFFIX).read_text(encoding="utf-8"))
        captured = datetime.fromisoformat(str(record["captured_at"]).replace("Z", "+00:00"))
        return str(record.get("camera") or ""), captured.timestamp()
    except (OSError, ValueError, KeyError, TypeError):
        return "", stamp[1] / 1e9


def encode_crop(crop: Path, encode_faces: EncodeFaces) -> np.ndarray | None:
    """The crop's face encoding, decoded as the gallery decodes files; the largest face when the
    margin holds a second one; None when there is no face (or the file cannot be read)."""
    try:
        rgb = load_image(crop, DETECTION_MAX_PIXELS)
    except (ImageReadError, OSError) as error:
        log.warning("unknown crop unreadable", path=str(crop), error=str(error))
        return None
    faces = encode_faces(rgb)
    if not faces:
        return None
    largest = max(faces, key=lambda face: face.box.area)
    return np.asarray(largest.encoding, dtype=np.float64)


def load_cache(directory: Path, settings_key: str) -> dict[str, CropRecord]:
    """The cached records; {} when there is no cache, it is unreadable, or made with other settings."""
    path = directory / CACHE_NAME
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["settings"]) != f"{CACHE_VERSION};{settings_key}":
                return {}
            return dict(_records(directory, data))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError) as error:  # a torn or foreign file: encode again
        log.warning("unknown crop cache unreadable; encoding again", path=str(path), error=str(error))
        return {}


def _records(directory: Path, data: np.lib.npyio.NpzFile) -> Iterable[tuple[str, CropRecord]]:
    ids, cameras, seen, stamps = data["ids"], data["cameras"], data["seen_at"], data["stamps"]
    encodings, found = data["encodings"], data["found"]
    for row, event_id in enumerate(ids.tolist()):
        encoding = encodings[row].copy() if found[row] else None
        stamp = (int(stamps[row, 0]), int(stamps[row, 1]))
        path = directory / f"{event_id}{CROP_SUFFIX}"
        yield event_id, CropRecord(event_id, path, str(cameras[row]), float(seen[row]), stamp, encoding)


def save_cache(directory: Path, settings_key: str, records: Sequence[CropRecord]) -> None:
    """Write the cache whole (atomically, 0600); a failure is logged: the next view encodes again."""
    buffer = io.BytesIO()
    encodings = np.zeros((len(records), ENCODING_SIZE))
    for row, record in enumerate(records):
        if record.encoding is not None:
            encodings[row] = record.encoding
    np.savez(
        buffer,
        settings=np.array(f"{CACHE_VERSION};{settings_key}"),
        ids=np.array([r.event_id for r in records], dtype=str),
        cameras=np.array([r.camera for r in records], dtype=str),
        seen_at=np.array([r.seen_at for r in records], dtype=np.float64),
        stamps=np.array([r.stamp for r in records], dtype=np.int64).reshape(-1, 2),
        encodings=encodings,
        found=np.array([r.encoding is not None for r in records], dtype=bool),
    )
    try:
        write_private_atomic(directory / CACHE_NAME, buffer.getvalue())
    except OSError as error:
        log.warning("unknown crop cache not written", path=str(directory / CACHE_NAME), error=str(error))


def cache_mtime(directory: Path) -> int | None:
    """The cache file's mtime (ns), to notice another process (the CLI, the daemon) rewrote it."""
    try:
        return (directory / CACHE_NAME).stat().st_mtime_ns
    except FileNotFoundError:
        return None
