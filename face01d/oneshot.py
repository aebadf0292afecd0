"""One-shot work for the command line: FACE01's headless pipe and gallery tools.

``detect_paths`` yields one plain record per face so the CLI can print JSON
lines that other programs read through a pipe. This is synchronous on
purpose: a script waits for the answer anyway; the daemon has its own loop.
Images are decoded as the gallery decodes them, capped at
DETECTION_MAX_PIXELS (an 8000×8000 photo would take gigabytes and a
minute, and HOG finds phantom faces in it), and boxes are reported in the
file's own pixel coordinates.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from face01d.config.models import DetectorConfig, GalleryConfig
from face01d.errors import InputError
from face01d.gallery.layout import HARMLESS_SKIPS, IMAGE_SUFFIXES, printable, scan_gallery
from face01d.gallery.model import Gallery, GalleryReport
from face01d.recognition.recognizer import Recognizer, load_gallery
from face01d.vision.analyzer import analyzer_for_thread
from face01d.faces import FaceBox
from face01d.vision.image import DETECTION_MAX_PIXELS, load_image_scaled

Scale = tuple[float, float]  # (vertical, horizontal): analysed pixels → the file's pixels
NATIVE: Scale = (1.0, 1.0)


def detect_paths(
    paths: Sequence[Path], detector: DetectorConfig, gallery_config: GalleryConfig | None, frame_skip: int = 0
) -> Iterator[dict[str, Any]]:
    """Records ``{source, frame, box, name, distance, percentage}``, one per face.

    Every path is checked before any work starts, so a typo in the last
    argument does not cost the minutes spent on the first ones.
    """
    for path in paths:
        _require_file(path)
    recognizer = _recognizer(detector, gallery_config)
    for path in paths:
        for index, image, color, scale in _frames(path, frame_skip):
            yield from _records(path, index, (image, color, scale), detector, recognizer)


def _require_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")


def _recognizer(detector: DetectorConfig, gallery_config: GalleryConfig | None) -> Recognizer | None:
    if gallery_config is None:
        return None
    gallery, _report = load_gallery(gallery_config)
    return Recognizer(detector, gallery_config, gallery)


def _frames(path: Path, frame_skip: int) -> Iterator[tuple[int, np.ndarray, str, Scale]]:
    """(frame index, image, colour order, scale) for an image file or each kept video frame."""
    if path.suffix.lower() in IMAGE_SUFFIXES | {".bmp", ".tif", ".tiff"}:
        image, scale = load_image_scaled(path, max_pixels=DETECTION_MAX_PIXELS)
        yield 0, image, "rgb", scale
        return
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise InputError(f"{path}: not an image or a video that OpenCV can decode")
        yield from _video_frames(capture, frame_skip)
    finally:
        capture.release()


def _video_frames(capture: cv2.VideoCapture, frame_skip: int) -> Iterator[tuple[int, np.ndarray, str, Scale]]:
    index = 0
    while True:
        ok, image = capture.read()
        if not ok:
            return
        if index % (frame_skip + 1) == 0:
            yield index, image, "bgr", NATIVE
        index += 1


def _records(
    path: Path,
    index: int,
    frame: tuple[np.ndarray, str, Scale],
    detector: DetectorConfig,
    recognizer: Recognizer | None,
) -> Iterator[dict[str, Any]]:
    image, color, scale = frame
    base = {"source": str(path), "frame": index}
    if recognizer is None:
        for detection in analyzer_for_thread(detector).detect(image, color=color):  # type: ignore[arg-type]
            box = _in_file(detection.box, scale)
            yield base | {"box": box.as_dict(), "score": round(detection.score, 3), "name": None}
        return
    for sighting in recognizer.recognize(image, color=color):
        yield base | {
            "box": _in_file(sighting.box, scale).as_dict(),
            "name": sighting.name,
            "distance": round(sighting.distance, 4),
            "percentage": round(sighting.percentage, 2),
        }


def _in_file(box: FaceBox, scale: Scale) -> FaceBox:
    """A box found in the analysed (possibly reduced) image, in the file's own pixels."""
    if scale == NATIVE:
        return box
    vertical, horizontal = scale
    return FaceBox(
        top=round(box.top * vertical),
        right=round(box.right * horizontal),
        bottom=round(box.bottom * vertical),
        left=round(box.left * horizontal),
    )


def build_with_progress(config: GalleryConfig) -> tuple[Gallery, GalleryReport]:
    """Build a gallery with a progress bar on stderr (tqdm hides it when quick)."""
    from tqdm import tqdm

    with tqdm(desc="encoding gallery", unit="image", leave=False, mininterval=0.5, delay=1.0) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        return load_gallery(config, progress)


def report_lines(report: GalleryReport) -> list[str]:
    """One human-readable line per image that was left out or skipped."""
    lines = [f"{printable(path)}: no face found, left out" for path in report.no_face]
    lines += [
        f"{printable(path)}: {count} faces, left out (one face per image)" for path, count in report.multiple_faces
    ]
    lines += [f"{printable(path)}: unreadable, left out: {reason}" for path, reason in report.unreadable]
    lines += [f"{printable(path)}: skipped: {why}" for path, why in report.skipped if why not in HARMLESS_SKIPS]
    if report.cache_problem:
        lines.append(f"cache: {report.cache_problem} (rebuilt)")
    return lines


def list_people(directory: Path) -> Iterator[dict[str, Any]]:
    """Each person with image count and display image, from the layout alone (no encoding)."""
    if not directory.is_dir():
        from face01d.errors import GalleryError

        raise GalleryError(f"gallery folder not found: {directory}")
    people: dict[str, dict[str, Any]] = {}
    for entry in scan_gallery(directory).entries:
        person = people.setdefault(entry.name, {"name": entry.name, "images": 0, "default": None})
        person["images"] += 1
        if entry.is_default:
            person["default"] = str(entry.path)
    yield from people.values()
