"""A gallery as bytes and back: names, encodings, display thumbnails, in a plain ZIP.

The payload is a stored (uncompressed) ZIP with fixed timestamps, so the
same gallery always gives the same bytes and the same SHA-256: publishing
an unchanged gallery again is recognised and costs nothing. It holds
``gallery.json`` (names, published file names, the thumbnail of each person),
``encodings.npy`` (read with ``allow_pickle=False``: a payload can never run
code) and ``thumbs/<i>.jpg``, each person's display image shrunk to
``liveview.thumbnails.THUMBNAIL_MAX_PX`` tall. Reading checks every size and count: a payload is
data from the network, even behind an ACL.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog

from face01d.config.models import GalleryConfig
from face01d.gallery.model import Gallery

log = structlog.get_logger(__name__)

FORMAT = 1
MODEL = "dlib_face_recognition_resnet_model_v1"  # the 128-D encoder every node runs
ENCODING_SIZE = 128
THUMBNAIL_QUALITY = 85
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
MAX_ROWS = 100_000
_STAMP = (1980, 1, 1, 0, 0, 0)  # ZIP's epoch: the same gallery, the same bytes


class PayloadError(ValueError):
    """A payload or manifest that is not a usable gallery: refused, the old gallery kept."""


@dataclass(frozen=True, slots=True)
class Settings:
    """What an encoding depends on: a node with other settings cannot match against it."""

    model: str
    landmarks: str
    jitters: int

    @classmethod
    def of(cls, config: GalleryConfig) -> Settings:
        return cls(MODEL, config.landmarks, config.jitters)

    def as_dict(self) -> dict[str, object]:
        return {"model": self.model, "landmarks": self.landmarks, "jitters": self.jitters}


def digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def encode_payload(gallery: Gallery, root: Path) -> bytes:
    """The gallery as a ZIP (blocking: reads and shrinks the display images)."""
    buffer = io.BytesIO()
    people = list(gallery.people)
    display: dict[str, str] = {}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for index, name in enumerate(people):
            jpeg = _thumbnail(gallery.display_images.get(name))
            if jpeg is not None:
                display[name] = f"thumbs/{index}.jpg"
                _put(archive, display[name], jpeg)
        _put(archive, "encodings.npy", _npy(gallery.encodings))
        index_json = {"format": FORMAT, "names": list(gallery.names),
                      "files": [_relative(path, root) for path in gallery.paths], "display": display}
        _put(archive, "gallery.json", json.dumps(index_json, ensure_ascii=False, sort_keys=True).encode("utf-8"))
    return buffer.getvalue()


def _put(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, _STAMP)
    info.external_attr = 0o600 << 16
    archive.writestr(info, data)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype="<f8"), allow_pickle=False)
    return buffer.getvalue()


def _relative(path: Path, root: Path) -> str:
    """The published file name: relative to the gallery folder (no absolute path of the publisher leaks)."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).name


def _thumbnail(path: Path | None) -> bytes | None:
    """The display image shrunk to a JPEG (as the live view shrinks it); None (logged) when it cannot be read."""
    import cv2  # noqa: PLC0415 - deferred: the CLI imports this module

    from face01d.liveview.thumbnails import load_thumbnail  # noqa: PLC0415 - the same bounded, regular-file read

    image = load_thumbnail(path) if path is not None else None
    if image is None:
        return None
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, THUMBNAIL_QUALITY])
    return jpeg.tobytes() if ok else None


def decode_payload(payload: bytes, thumbs_dir: Path) -> Gallery:
    """The Gallery in ``payload``; thumbnails are written under ``thumbs_dir``. PayloadError if unusable."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"payload of {len(payload)} bytes is over {MAX_PAYLOAD_BYTES}")
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            index = json.loads(_member(archive, "gallery.json"))
            encodings = _encodings(_member(archive, "encodings.npy"))
            names, files = _rows(index, len(encodings))
            display = _write_thumbnails(archive, index.get("display"), set(names), thumbs_dir)
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, KeyError) as error:
        raise PayloadError(f"not a gallery payload: {error}") from None
    return Gallery(encodings=encodings, names=names, paths=tuple(Path(f) for f in files), display_images=display)


def _member(archive: zipfile.ZipFile, name: str) -> bytes:
    info = archive.getinfo(name)
    if info.compress_type != zipfile.ZIP_STORED or info.file_size > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"{name}: not a stored member of a plausible size")
    return archive.read(info)


def _encodings(data: bytes) -> np.ndarray:
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as error:
        raise PayloadError(f"encodings unreadable: {error}") from None
    if array.ndim != 2 or array.shape[1] != ENCODING_SIZE or not 0 < len(array) <= MAX_ROWS:
        raise PayloadError(f"encodings of shape {array.shape}, not (1..{MAX_ROWS}, {ENCODING_SIZE})")
    if array.dtype.kind != "f" or not np.isfinite(array).all():
        raise PayloadError("encodings are not finite floats")
    return array.astype(np.float64)


def _rows(index: object, count: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Names and file names, one per encoding row."""
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise PayloadError(f"gallery.json is not format {FORMAT}")
    names, files = index.get("names"), index.get("files")
    if not (isinstance(names, list) and isinstance(files, list) and len(names) == len(files) == count):
        raise PayloadError("gallery.json: names and files must have one entry per encoding")
    if not all(isinstance(text, str) and text for text in names + files):
        raise PayloadError("gallery.json: names and files must be non-empty strings")
    return tuple(names), tuple(files)


def _write_thumbnails(archive: zipfile.ZipFile, display: object, names: set[str], folder: Path) -> dict[str, Path]:
    """Each person's thumbnail as a file (the live view draws from paths), under a name of ours."""
    from face01d.private_files import write_private_atomic  # noqa: PLC0415

    if not isinstance(display, dict):
        raise PayloadError("gallery.json: display must be an object")
    paths: dict[str, Path] = {}
    for number, (name, member) in enumerate(sorted(display.items())):
        if name not in names or not isinstance(member, str):
            raise PayloadError(f"gallery.json: a thumbnail for {name!r}, who has no encoding")
        path = folder / f"{number}.jpg"
        write_private_atomic(path, _member(archive, member))
        paths[name] = path
    return paths
