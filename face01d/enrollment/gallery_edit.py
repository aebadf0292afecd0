"""Adding, promoting and removing people in a gallery folder (the CLI and the HTTP routes share it).

Files follow FACE01's flat layout, ``NAME_<n>.<ext>``, with the person's
first image also saved as ``NAME_default.<ext>`` (the display image) when
they have none; a person kept in a folder of their own (``NAME/``) gets the
new files in that folder. Every image is checked before any is written, so a
bad one in a list leaves the gallery as it was. Files are written whole
(temp file, then rename) with mode 0600: a gallery is biometric data, and a
watching daemon never reads half a file (it ignores the hidden temp file).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from face01d.config.models import GalleryConfig
from face01d.errors import ExitCode, Face01dError, GalleryError, InputError
from face01d.enrollment.images import require_one_face, stored_form
from face01d.enrollment.unknown import CROP_SUFFIX, EVENT_SUFFIX
from face01d.gallery.layout import DEFAULT_STEM, is_reserved, printable, scan_gallery
from face01d.private_files import write_private_atomic
from face01d.vision.image import DETECTION_MAX_PIXELS, decode_image_bytes, read_image_bytes

log = structlog.get_logger(__name__)

MAX_NAME_BYTES = 200  # NAME_default.jpeg stays under the 255-byte file name limit
_FORBIDDEN = "_/\\"
_FORBIDDEN_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")  # controls, format characters, U+2028 and U+2029
REPLACEMENT = "\ufffd"  # what a URL's invalid UTF-8 is decoded to
_EVENT_PREFIX = re.compile(r"[0-9a-f]{1,32}")


class InvalidName(Face01dError):
    """A person's name that the gallery's file names cannot carry (a usage error)."""

    exit_code = ExitCode.USAGE


class NotInGallery(GalleryError):
    """``remove`` of a person the gallery does not hold."""


class OutsideGallery(GalleryError):
    """An edit that would write or delete through a symlink, maybe outside the gallery folder."""


@dataclass(frozen=True, slots=True)
class Upload:
    """One checked image, ready to be written: its stored suffix and bytes."""

    label: str
    suffix: str
    data: bytes


def valid_name(text: str) -> str:
    """The name, NFKC-normalised (fullwidth ＵＮＫＮＯＷＮ is Unknown; one spelling per person on disk);
    InvalidName when a file name or a one-line log record cannot carry it unambiguously."""
    name = unicodedata.normalize("NFKC", text).strip()
    if not name:
        raise InvalidName("the name is empty")
    if REPLACEMENT in name or any(unicodedata.category(ch) == "Cs" for ch in name):  # %FF%FE in a URL, argv's bytes
        raise InvalidName(f"{name!r}: not valid UTF-8")
    if any(ch in _FORBIDDEN or unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in name):
        raise InvalidName(f"{name!r}: a name may not contain '_', '/', '\\', control characters or line separators")
    if name.startswith("."):
        raise InvalidName(f"{name!r}: a name may not start with '.' (hidden files are ignored)")
    if is_reserved(name):
        raise InvalidName(f"{name!r} is what face01d calls a stranger, not a name")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise InvalidName(f"the name is over {MAX_NAME_BYTES} bytes")
    return name


def _gallery_dir(config: GalleryConfig) -> Path:
    root = Path(config.path)
    if not root.is_dir():
        raise GalleryError(f"gallery folder not found: {printable(root)}")
    return root


def check_upload(config: GalleryConfig, data: bytes, label: str) -> Upload:
    """Decode as the gallery builder would and require exactly one face (seconds: off the loop)."""
    rgb = decode_image_bytes(data, label, DETECTION_MAX_PIXELS)
    require_one_face(config, rgb, label)
    suffix, stored = stored_form(data, rgb)
    return Upload(label, suffix, stored)


def _person_folder(root: Path, name: str) -> Path:
    """Where ``name``'s new files go: their own folder when they have one, else the gallery."""
    folder = root / name
    _refuse_symlink(root, folder)
    return folder if folder.is_dir() else root


def _refuse_symlink(root: Path, folder: Path) -> None:
    """OutsideGallery if ``folder`` is a symlink: enrollment never writes or deletes through one
    (a person folder linked to /etc or a home folder would be written into, or emptied)."""
    if folder != root and folder.is_symlink():
        raise OutsideGallery(f"{printable(folder)}: a symlink, not a folder of the gallery; refused")


def _next_number(folder: Path, name: str) -> int:
    """One more than the highest ``NAME_<n>`` in ``folder`` (1 for a new person)."""
    pattern = re.compile(re.escape(name) + r"_(\d+)")
    numbers = [int(match.group(1)) for path in folder.iterdir()
               if (match := pattern.fullmatch(unicodedata.normalize("NFC", path.stem)))]
    return max(numbers, default=0) + 1


def _has_default(root: Path, name: str) -> bool:
    return any(entry.name == name and entry.is_default for entry in scan_gallery(root).entries)


def write_uploads(config: GalleryConfig, name: str, uploads: Sequence[Upload]) -> list[Path]:
    """Write checked images as ``NAME_<n>`` (and the first as ``NAME_default`` if missing); the paths."""
    root = _gallery_dir(config)
    folder = _person_folder(root, name)
    written: list[Path] = []
    if uploads and not _has_default(root, name):
        written.append(_write_new(folder / f"{name}_{DEFAULT_STEM}{uploads[0].suffix}", uploads[0].data))
    number = _next_number(folder, name)
    for offset, upload in enumerate(uploads):
        written.append(_write_new(folder / f"{name}_{number + offset}{upload.suffix}", upload.data))
    log.info("gallery person added", name=name, files=[str(path) for path in written])
    return written


def _write_new(path: Path, data: bytes) -> Path:
    if path.exists():
        raise GalleryError(f"{printable(path)}: already exists, not overwritten")
    try:
        write_private_atomic(path, data)
    except OSError as error:
        raise GalleryError(f"{printable(path)}: cannot be written ({error.strerror or error})") from None
    return path


def add_images(config: GalleryConfig, name: str, images: Sequence[Path]) -> list[Path]:
    """``face01d gallery add``: check every image first, then write them all; the new paths."""
    name = valid_name(name)
    _gallery_dir(config)
    uploads = [check_upload(config, read_image_bytes(path, printable(path)), printable(path)) for path in images]
    return write_uploads(config, name, uploads)


def remove_person(config: GalleryConfig, name: str) -> list[Path]:
    """Delete every image of ``name`` (and their emptied folder); GalleryError if there are none."""
    name = valid_name(name)
    root = _gallery_dir(config)
    paths = [entry.path for entry in scan_gallery(root).entries  # files named before names were NFKC'd too
             if unicodedata.normalize("NFKC", entry.name) == name]
    if not paths:
        raise NotInGallery(f"{name}: not in the gallery {printable(root)}")
    for folder in {path.parent for path in paths}:
        _refuse_symlink(root, folder)
    for path in paths:
        path.unlink(missing_ok=True)
    folder = root / name
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    log.info("gallery person removed", name=name, files=[str(path) for path in paths])
    return paths


def find_unknown(directory: Path, event_id: str) -> Path:
    """The kept crop whose event id is, or starts with, ``event_id``; InputError if none or several."""
    prefix = event_id.strip().lower()
    if not _EVENT_PREFIX.fullmatch(prefix):
        raise InputError(f"{event_id!r} is not an event id (hexadecimal, as in the event's \"id\")")
    if not directory.is_dir():
        raise InputError(f"no unknown faces kept: {printable(directory)} does not exist")
    matches = sorted(path for path in directory.glob(f"{prefix}*{CROP_SUFFIX}") if not path.name.startswith("."))
    if not matches:
        raise InputError(f"no unknown face with event id {prefix} in {printable(directory)}")
    if len(matches) > 1:
        raise InputError(f"event id {prefix} is ambiguous: {len(matches)} unknown faces start with it")
    return matches[0]


def promote(config: GalleryConfig, unknown_dir: Path, event_id: str, name: str) -> list[Path]:
    """``face01d gallery promote``: add the kept crop as ``name``, then forget it as unknown."""
    crop = find_unknown(unknown_dir, event_id)
    written = add_images(config, name, [crop])
    crop.unlink(missing_ok=True)
    crop.with_suffix(EVENT_SUFFIX).unlink(missing_ok=True)
    return written
