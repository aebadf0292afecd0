"""Which files of a gallery folder are registered faces, and of whom.

Two layouts are accepted, even mixed in one folder: FACE01's flat folder
(``NAME_anything.png``, ``NAME_default.png`` being the display image) and one
folder per person (``NAME/*.jpg``). Anything else is reported as skipped
rather than silently used or silently ignored, so a user who misnamed a file
learns why that person is not recognised. Only regular files and folders are
used: a FIFO, a device or a socket (or a symlink to one) is skipped from its
``stat`` alone, never opened (a FIFO blocked the load for ever, /dev/zero never
ended), and so is a person called Unknown, which names a stranger.
"""

from __future__ import annotations

import errno
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from face01d.errors import GalleryError
from face01d.faces import UNKNOWN
from face01d.safe_files import irregular

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
CACHE_DIRNAME = ".face01d-cache"
DEFAULT_STEM = "default"
CACHE_FOLDER = "face01d cache folder"
HIDDEN = "hidden"
HARMLESS_SKIPS = frozenset({CACHE_FOLDER, HIDDEN})  # .DS_Store is not a user's mistake: not worth a warning
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # and the line/paragraph separators: one line per log record
RESERVED = "the name Unknown is what face01d calls a stranger"


@dataclass(frozen=True, slots=True)
class GalleryEntry:
    """One image file registered for one person."""

    path: Path
    name: str
    is_default: bool


@dataclass(frozen=True, slots=True)
class Scan:
    """The outcome of scanning: usable entries and ``(path, why)`` for the rest."""

    entries: tuple[GalleryEntry, ...]
    skipped: tuple[tuple[Path, str], ...]


def person_name(text: str) -> str:
    """NFC-normalise a name: macOS writes file names decomposed (NFD), and
    the same person must not become two identities depending on the disk."""
    return unicodedata.normalize("NFC", text).strip()


def printable(path: Path) -> str:
    """``path`` for a one-line message: control characters (a newline in a name) escaped."""
    return _CONTROL.sub(lambda match: _escaped(ord(match.group())), str(path))


def _escaped(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def is_reserved(name: str) -> bool:
    """``Unknown`` in any case or width (NFKC: fullwidth ＵＮＫＮＯＷＮ too) names the stranger, nobody registered."""
    return unicodedata.normalize("NFKC", name).casefold() == UNKNOWN.casefold()


def _safe_resolve(path: Path) -> Path | None:
    """The resolved path, or None for a symlink loop (RuntimeError before Python 3.13)."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return None


def _unusable(path: Path) -> str | None:
    """Why a directory entry cannot be a gallery file at all, or None."""
    if _CONTROL.search(path.name):
        return "control character in the name"
    if path.is_symlink():
        try:
            path.resolve(strict=True)
        except RuntimeError:
            return "unreadable: symlink loop"
        except OSError as exc:
            return "unreadable: symlink loop" if exc.errno == errno.ELOOP else "unreadable: broken symlink"
    return None if path.name.startswith(".") else _irregular(path)  # a hidden socket is only hidden


def _irregular(path: Path) -> str | None:
    """A FIFO, a device, a socket (or a symlink to one): never opened, its read could block or never end."""
    try:
        what = irregular(path)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    return None if what is None else f"not a regular file: {what}"


def _listing(root: Path) -> list[Path]:
    try:
        return sorted(root.iterdir())
    except OSError as exc:
        raise GalleryError(f"{printable(root)}: cannot read the gallery folder: {exc.strerror or exc}") from None


def scan_gallery(root: Path, cache_dir: Path | None = None) -> Scan:
    """List ``root``'s registered images in a stable (sorted) order."""
    entries: list[GalleryEntry] = []
    skipped: list[tuple[Path, str]] = []
    cache_dir = _safe_resolve(cache_dir or root / CACHE_DIRNAME)
    for path in _listing(root):
        problem = _unusable(path)
        if problem is not None:
            skipped.append((path, problem))
        elif cache_dir is not None and _safe_resolve(path) == cache_dir:
            skipped.append((path, CACHE_FOLDER))
        elif path.name.startswith("."):
            skipped.append((path, HIDDEN))
        elif path.is_dir():
            _scan_person_dir(path, entries, skipped)
        else:
            _scan_flat_file(path, entries, skipped)
    entries.sort(key=lambda entry: (entry.name, str(entry.path)))
    return Scan(tuple(entries), tuple(skipped))


def _scan_flat_file(path: Path, entries: list[GalleryEntry], skipped: list[tuple[Path, str]]) -> None:
    """FACE01's convention: the name is the text before the first ``_``."""
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        skipped.append((path, f"not an image extension ({', '.join(sorted(IMAGE_SUFFIXES))})"))
        return
    name, sep, rest = path.stem.partition("_")
    name = person_name(name)
    if not sep or not name:
        skipped.append((path, "flat file name must be NAME_anything"))
        return
    if is_reserved(name):
        skipped.append((path, RESERVED))
        return
    entries.append(GalleryEntry(path, name, rest.lower() == DEFAULT_STEM))


def _scan_person_dir(folder: Path, entries: list[GalleryEntry], skipped: list[tuple[Path, str]]) -> None:
    """Folder-per-person: every image inside belongs to the folder's name."""
    name = person_name(folder.name)
    if is_reserved(name):
        skipped.append((folder, RESERVED))
        return
    try:
        paths = sorted(folder.iterdir())
    except OSError as exc:
        skipped.append((folder, f"unreadable: {exc.strerror or exc}"))
        return
    for path in paths:
        problem = _unusable(path)
        if problem is not None:
            skipped.append((path, problem))
        elif path.name.startswith("."):
            skipped.append((path, HIDDEN))
        elif path.is_dir():
            skipped.append((path, "nested folder"))
        elif path.suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append((path, "not an image extension"))
        else:
            stem = path.stem.lower()
            is_default = stem == DEFAULT_STEM or stem.endswith("_" + DEFAULT_STEM)
            entries.append(GalleryEntry(path, name, is_default))
