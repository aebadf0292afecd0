"""The gallery: registered faces, their cached encodings, and matching.

``build_gallery`` turns a folder into an immutable
``Gallery`` plus a ``GalleryReport``; ``Matcher`` answers who each face is.
"""

from face01d.gallery.build import EncodeFaces, build_gallery
from face01d.gallery.layout import (
    CACHE_DIRNAME,
    IMAGE_SUFFIXES,
    GalleryEntry,
    Scan,
    scan_gallery,
)
from face01d.gallery.matching import Match, Matcher
from face01d.gallery.model import Gallery, GalleryReport

__all__ = [
    "CACHE_DIRNAME",
    "IMAGE_SUFFIXES",
    "EncodeFaces",
    "Gallery",
    "GalleryEntry",
    "GalleryReport",
    "Match",
    "Matcher",
    "Scan",
    "build_gallery",
    "scan_gallery",
]
