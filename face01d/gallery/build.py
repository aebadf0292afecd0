"""Build a Gallery from a folder: scan, encode what the cache lacks, report.

The face-encoding step is injected (``encode_faces``: RGB image → faces), so
the gallery knows nothing of detectors or model settings; the caller passes
a ``settings_key`` naming those settings so that the cache can tell when its
encodings no longer apply. The image loader is named the same way
(``decode_key``): a face count found in a photo decoded at full size is not
the one found under the pixel cap, so it is recomputed rather than trusted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import structlog

from face01d.errors import GalleryError, ImageReadError
from face01d.gallery.cache import CacheCorrupt, CachedResult, file_digest, load_cache, save_cache
from face01d.gallery.layout import CACHE_DIRNAME, HARMLESS_SKIPS, GalleryEntry, scan_gallery
from face01d.gallery.model import Gallery, GalleryReport
from face01d.faces import Face

log = structlog.get_logger(__name__)

CUSTOM_DECODE_KEY = "custom"  # an injected loader whose caller did not name it
CHECKPOINT_EVERY = 20  # newly encoded images between two saves of the cache during a build

EncodeFaces = Callable[[np.ndarray], Sequence[Face]]
ImageLoader = Callable[[Path], np.ndarray]
Progress = Callable[[int, int], None]


@dataclass
class _Build:
    """Mutable accumulator of one build; frozen into Gallery + GalleryReport."""

    results: dict[str, CachedResult] = field(default_factory=dict)
    used: list[tuple[GalleryEntry, np.ndarray]] = field(default_factory=list)
    encoded_now: list[Path] = field(default_factory=list)
    from_cache: list[Path] = field(default_factory=list)
    no_face: list[Path] = field(default_factory=list)
    multiple_faces: list[tuple[Path, int]] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    cache_problem: str | None = None


def build_gallery(
    root: Path,
    encode_faces: EncodeFaces,
    settings_key: str,
    *,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    load: ImageLoader | None = None,
    decode_key: str | None = None,
) -> tuple[Gallery, GalleryReport]:
    """Encode ``root``'s images (each once, then from cache) into a Gallery.

    ``load`` and ``decode_key``: how images are decoded, and its name in the
    cache (the default: capped at DETECTION_MAX_PIXELS; a custom ``load``
    without a ``decode_key`` is cached as "custom").

    Raises GalleryError when the folder is missing or no image gives exactly
    one face; every left-out file is listed in the report with its reason.
    """
    root = Path(root)
    if not root.is_dir():
        raise GalleryError(f"gallery folder not found: {root}")
    cache_dir = Path(cache_dir) if cache_dir is not None else root / CACHE_DIRNAME
    scan = scan_gallery(root, cache_dir)
    _log_skipped(scan.skipped)
    state = _Build()
    loader, decode = _loader(load, decode_key)
    cached = _read_cache(cache_dir, settings_key, decode, state)
    for done, entry in enumerate(scan.entries, start=1):
        encoded_before = len(state.encoded_now)
        _process(entry, cached, state, encode_faces, loader)
        if len(state.encoded_now) > encoded_before and len(state.encoded_now) % CHECKPOINT_EVERY == 0:
            _write_cache(cache_dir, (settings_key, decode), state, keep=cached)  # an interrupted build resumes here
        if progress is not None:
            progress(done, len(scan.entries))
    if state.results.keys() != cached.keys():
        _write_cache(cache_dir, (settings_key, decode), state)
    report = _report(state, scan.skipped)
    return _gallery(root, state), report


def _log_skipped(skipped: tuple[tuple[Path, str], ...]) -> None:
    """One warning per file the layout left out (the daemon's log says what ``gallery check`` says)."""
    for path, why in skipped:
        if why not in HARMLESS_SKIPS:
            log.warning("gallery_file_skipped", path=str(path), reason=why)


def _loader(load: ImageLoader | None, decode_key: str | None) -> tuple[ImageLoader, str]:
    """The image loader and its name in the cache."""
    if load is not None:
        return load, decode_key or CUSTOM_DECODE_KEY
    return _default_loader()


def _default_loader() -> tuple[ImageLoader, str]:
    """Gallery photos decoded at most DETECTION_MAX_PIXELS: a huge photo costs neither
    gigabytes nor a minute, and HOG finds the one face in it, not three."""
    from face01d.vision.image import DETECTION_MAX_PIXELS, decode_key, load_image  # deferred: no OpenCV at import

    return (lambda path: load_image(path, max_pixels=DETECTION_MAX_PIXELS)), decode_key(DETECTION_MAX_PIXELS)


def _read_cache(cache_dir: Path, settings_key: str, decode_key: str, state: _Build) -> dict[str, CachedResult]:
    try:
        return load_cache(cache_dir, settings_key, decode_key)
    except CacheCorrupt as exc:
        state.cache_problem = f"corrupt cache ignored, rebuilding: {exc}"
        log.warning("gallery_cache_corrupt", error=str(exc), path=str(cache_dir))
        return {}


def _write_cache(
    cache_dir: Path, keys: tuple[str, str], state: _Build, keep: dict[str, CachedResult] | None = None
) -> None:
    """Save under (settings key, decode key) (``keep``: older results not yet visited, for a
    checkpoint mid-build); an unwritable cache only costs speed next time."""
    try:
        save_cache(cache_dir, *keys, {**(keep or {}), **state.results})
    except OSError as exc:
        state.cache_problem = f"cache not written: {exc}"
        log.warning("gallery_cache_unwritable", error=str(exc), path=str(cache_dir))


def _process(
    entry: GalleryEntry,
    cached: dict[str, CachedResult],
    state: _Build,
    encode_faces: EncodeFaces,
    load: ImageLoader,
) -> None:
    """Hash, then take the cached result or encode; file the outcome."""
    try:
        digest = file_digest(entry.path)
        result = cached.get(digest) or state.results.get(digest)
        fresh = result is None
        if result is None:
            result = _encode(load(entry.path), encode_faces)
    except (OSError, ImageReadError) as exc:
        state.unreadable.append((entry.path, str(exc)))
        log.warning("gallery_image_unreadable", path=str(entry.path), error=str(exc))
        return
    state.results[digest] = result
    (state.encoded_now if fresh else state.from_cache).append(entry.path)
    _classify(entry, result, state)


def _encode(rgb: np.ndarray, encode_faces: EncodeFaces) -> CachedResult:
    faces = list(encode_faces(rgb))
    if len(faces) != 1:
        return CachedResult(len(faces), None)
    return CachedResult(1, np.asarray(faces[0].encoding, dtype=np.float64).reshape(128))


def _classify(entry: GalleryEntry, result: CachedResult, state: _Build) -> None:
    if result.faces == 1 and result.encoding is not None:
        state.used.append((entry, result.encoding))
    elif result.faces == 0:
        state.no_face.append(entry.path)
        log.warning("gallery_image_no_face", path=str(entry.path))
    else:
        state.multiple_faces.append((entry.path, result.faces))
        log.warning("gallery_image_multiple_faces", path=str(entry.path), faces=result.faces)


def _gallery(root: Path, state: _Build) -> Gallery:
    if not state.used:
        raise GalleryError(
            f"gallery has no image with exactly one usable face: {root} "
            f"(no face: {len(state.no_face)}, several faces: {len(state.multiple_faces)}, "
            f"unreadable: {len(state.unreadable)})"
        )
    entries = [entry for entry, _ in state.used]
    return Gallery(
        encodings=np.stack([encoding for _, encoding in state.used]),
        names=tuple(entry.name for entry in entries),
        paths=tuple(entry.path for entry in entries),
        display_images=_display_images(entries),
    )


def _display_images(entries: list[GalleryEntry]) -> dict[str, Path]:
    """``NAME_default.*`` when there is one, else the person's first image."""
    first: dict[str, Path] = {}
    default: dict[str, Path] = {}
    for entry in entries:
        (default if entry.is_default else first).setdefault(entry.name, entry.path)
    return {**first, **default}


def _report(state: _Build, skipped: tuple[tuple[Path, str], ...]) -> GalleryReport:
    return GalleryReport(
        encoded_now=tuple(state.encoded_now),
        from_cache=tuple(state.from_cache),
        no_face=tuple(state.no_face),
        multiple_faces=tuple(state.multiple_faces),
        unreadable=tuple(state.unreadable),
        skipped=skipped,
        cache_problem=state.cache_problem,
    )
