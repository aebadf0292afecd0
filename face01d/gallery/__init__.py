"""The gallery: registered faces, their cached encodings, and matching.

``build_gallery`` / ``load_gallery`` turn a folder into an immutable
``Gallery`` plus a ``GalleryReport``; ``Matcher`` answers who each face is.

The re-exports are resolved lazily (PEP 562): ``face01d.config.models``
imports ``face01d.gallery.threshold``, and an eager import of the builder
here would import the vision core, which imports the config models back.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "EncodeFaces": "build",
    "build_gallery": "build",
    "load_gallery": "build",
    "CACHE_DIRNAME": "layout",
    "IMAGE_SUFFIXES": "layout",
    "GalleryEntry": "layout",
    "Scan": "layout",
    "scan_gallery": "layout",
    "Match": "matching",
    "Matcher": "matching",
    "Gallery": "model",
    "GalleryReport": "model",
    "distance_to_percentage": "threshold",
    "percentage_to_tolerance": "threshold",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from face01d.gallery.build import EncodeFaces, build_gallery, load_gallery
    from face01d.gallery.layout import CACHE_DIRNAME, IMAGE_SUFFIXES, GalleryEntry, Scan, scan_gallery
    from face01d.gallery.matching import Match, Matcher
    from face01d.gallery.model import Gallery, GalleryReport
    from face01d.gallery.threshold import distance_to_percentage, percentage_to_tolerance


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first access."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
