"""Who is in this image: the vision core and the gallery, composed.

The one-shot CLI (``face01d detect``) and the daemon both go through
``Recognizer.recognize``, so a face is named the same way everywhere. It runs
in worker threads: models come from ``analyzer_for_thread`` (one set per
thread), and the matcher is an immutable object swapped whole on reload.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from face01d.config.models import DetectorConfig, DetectorKind, GalleryConfig, SetArea
from face01d.gallery.build import build_gallery
from face01d.gallery.cache import default_cache_dir
from face01d.gallery.matching import Matcher
from face01d.gallery.model import Gallery, GalleryReport
from face01d.vision.analyzer import analyzer_for_thread
from face01d.faces import Face, Sighting
from face01d.recognition.decision import Vote

# Gallery images are encoded once and cached, so they get the thorough
# detector whatever the live one is tuned to: HOG with one upsampling pass at
# full resolution (face_recognition's default), and where HOG finds nothing in
# a small image, dlib's CNN. FACE01 galleries are often tight crops (224 px)
# in which HOG sees no face but the CNN does, at ~2 s each, once.
GALLERY_DETECTOR = DetectorConfig(kind=DetectorKind.HOG, upsampling=1, max_faces=100)
GALLERY_FALLBACK_DETECTOR = DetectorConfig(kind=DetectorKind.CNN, upsampling=1, max_faces=100)
GALLERY_FALLBACK_MAX_PIXELS = 640 * 480  # the CNN costs ~30 s per megapixel on a CPU


def gallery_settings_key(config: GalleryConfig) -> str:
    """Everything an encoding depends on; a change invalidates the cache."""
    detector, fallback = GALLERY_DETECTOR, GALLERY_FALLBACK_DETECTOR
    return (
        f"dlib-resnet;landmarks={config.landmarks};jitters={config.jitters};"
        f"detector={detector.kind.value}-up{detector.upsampling};"
        f"fallback={fallback.kind.value}-up{fallback.upsampling}-max{GALLERY_FALLBACK_MAX_PIXELS}"
    )


def gallery_encoder(config: GalleryConfig) -> Callable[[np.ndarray], Sequence[Face]]:
    """The ``encode_faces`` step the gallery builder calls for each RGB image."""

    def encode(rgb: np.ndarray) -> Sequence[Face]:
        faces = analyzer_for_thread(GALLERY_DETECTOR, config.landmarks, config.jitters).analyze(rgb, color="rgb")
        if faces or rgb.shape[0] * rgb.shape[1] > GALLERY_FALLBACK_MAX_PIXELS:
            return faces
        fallback = analyzer_for_thread(GALLERY_FALLBACK_DETECTOR, config.landmarks, config.jitters)
        return fallback.analyze(rgb, color="rgb")

    return encode


def load_gallery(
    config: GalleryConfig, progress: Callable[[int, int], None] | None = None
) -> tuple[Gallery, GalleryReport]:
    """Load ``[gallery]``: cached encodings plus whatever changed since (the one way to get a Gallery)."""
    cache_dir = config.cache_dir or default_cache_dir(config.path)
    return build_gallery(
        config.path, gallery_encoder(config), gallery_settings_key(config), cache_dir=cache_dir, progress=progress
    )


class Recognizer:
    """Detect, encode and name every face of one image."""

    def __init__(self, detector: DetectorConfig, gallery_config: GalleryConfig, gallery: Gallery) -> None:
        self._detector = detector
        self._gallery_config = gallery_config
        self._matcher = Matcher(gallery, gallery_config.effective_tolerance)

    @property
    def gallery(self) -> Gallery:
        return self._matcher.gallery

    def replace_gallery(self, gallery: Gallery) -> None:
        """Swap in a reloaded gallery; a recognition in flight keeps the old one."""
        self._matcher = Matcher(gallery, self._gallery_config.effective_tolerance)

    def recognize(self, image: np.ndarray, color: str = "bgr", set_area: SetArea | None = None) -> list[Sighting]:
        config = self._gallery_config
        analyzer = analyzer_for_thread(self._detector, config.landmarks, config.jitters)
        faces = analyzer.analyze(image, color=color, set_area=set_area)  # type: ignore[arg-type]
        return self.name_faces(faces)

    def votes(self, encodings: Sequence[np.ndarray]) -> list[Vote]:
        """Each encoding's nearest person and the distance to the next-nearest one (a track's vote)."""
        if not encodings:
            return []
        return self._matcher.votes(np.array(encodings))

    def name_faces(self, faces: Sequence[Face]) -> list[Sighting]:
        matcher = self._matcher  # one reference for the whole frame, even across a reload
        matches = matcher.match(np.array([face.encoding for face in faces]))
        return [
            Sighting(box=face.box, name=match.name, distance=match.distance, percentage=match.percentage)
            for face, match in zip(faces, matches)
        ]
