"""The loaded gallery and the report of how it was built.

A ``Gallery`` is immutable (frozen dataclass, read-only arrays): the daemon
builds a new one on SIGHUP and swaps the reference, so a matcher running in
a worker thread never sees a half-updated gallery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np


@dataclass(frozen=True)
class Gallery:
    """Registered encodings, one row per usable image, grouped by person.

    ``names[i]`` is the person of ``encodings[i]``; rows are sorted by name,
    so one person's rows are contiguous. ``people`` lists each person once.
    """

    encodings: np.ndarray  # (N, 128) float64, read-only
    names: tuple[str, ...]
    paths: tuple[Path, ...]
    display_images: Mapping[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.encodings.ndim != 2 or len({len(self.encodings), len(self.names), len(self.paths)}) != 1:
            raise ValueError("encodings, names and paths must have one row per image")
        encodings = np.array(self.encodings, dtype=np.float64, copy=True)
        encodings.flags.writeable = False
        object.__setattr__(self, "encodings", encodings)
        object.__setattr__(self, "display_images", MappingProxyType(dict(self.display_images)))

    @property
    def people(self) -> tuple[str, ...]:
        """Each registered person once, sorted."""
        return tuple(sorted(set(self.names)))

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class GalleryReport:
    """What happened to each file, for the CLI and the logs."""

    encoded_now: tuple[Path, ...] = ()
    from_cache: tuple[Path, ...] = ()
    no_face: tuple[Path, ...] = ()
    multiple_faces: tuple[tuple[Path, int], ...] = ()
    unreadable: tuple[tuple[Path, str], ...] = ()
    skipped: tuple[tuple[Path, str], ...] = ()
    cache_problem: str | None = None  # a corrupt or unwritable cache, already worked around

    @property
    def left_out(self) -> int:
        """Images that were found but contribute no encoding."""
        return len(self.no_face) + len(self.multiple_faces) + len(self.unreadable)
