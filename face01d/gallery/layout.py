"""Which files of a gallery folder are registered faces, and of whom.

Two layouts are accepted, even mixed in one folder: FACE01's flat folder
(``NAME_anything.png``, ``NAME_default.png`` being the display image) and one
folder per person (``NAME/*.jpg``). Anything else is reported as skipped
rather than silently used or silently ignored, so a user who misnamed a file
learns why that person is not recognised.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
CACHE_DIRNAME = ".face01d-cache"
DEFAULT_STEM = "default"


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


def scan_gallery(root: Path, cache_dir: Path | None = None) -> Scan:
    """List ``root``'s registered images in a stable (sorted) order."""
    entries: list[GalleryEntry] = []
    skipped: list[tuple[Path, str]] = []
    cache_dir = (cache_dir or root / CACHE_DIRNAME).resolve()
    for path in sorted(root.iterdir()):
        if path.resolve() == cache_dir:
            skipped.append((path, "face01d cache folder"))
        elif path.name.startswith("."):
            skipped.append((path, "hidden"))
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
    entries.append(GalleryEntry(path, name, rest.lower() == DEFAULT_STEM))


def _scan_person_dir(folder: Path, entries: list[GalleryEntry], skipped: list[tuple[Path, str]]) -> None:
    """Folder-per-person: every image inside belongs to the folder's name."""
    name = person_name(folder.name)
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            skipped.append((path, "hidden"))
        elif path.is_dir():
            skipped.append((path, "nested folder"))
        elif path.suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append((path, "not an image extension"))
        else:
            stem = path.stem.lower()
            is_default = stem == DEFAULT_STEM or stem.endswith("_" + DEFAULT_STEM)
            entries.append(GalleryEntry(path, name, is_default))
