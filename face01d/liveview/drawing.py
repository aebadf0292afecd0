"""FACE01's drawing on a camera picture: box, name, percentage, the person's thumbnail, track id.

Pure functions: an image and the tracks in, a new, scaled image out; the
camera's frame is never written to (other outputs and the snapshot writer
may still hold it). Colours tell the three states of a track apart at a
glance: green for a registered person, red for a stranger, amber while the
vote is still undecided.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from face01d.config.models import PreviewConfig
from face01d.faces import UNKNOWN, FaceBox
from face01d.liveview.fonts import Label, TextPainter
from face01d.sinks.base import TrackView

KNOWN_COLOUR = (0, 190, 0)  # BGR
UNKNOWN_COLOUR = (0, 0, 220)
UNDECIDED_COLOUR = (0, 180, 255)
FONT_FRACTION = 0.025  # font size as a share of the picture's width (24 px at 960)
MIN_FONT_PX = 12
MIN_THUMBNAIL_PX = 24  # a thumbnail smaller than this says nothing: drawn at least this tall
GAP_PX = 2  # between a box and what is drawn beside it

Thumbnails = Callable[[str], np.ndarray | None]  # name → BGR thumbnail (face01d.liveview.thumbnails)


@dataclass(frozen=True, slots=True)
class DrawOptions:
    """Which of FACE01's drawings to make (``[preview] draw_*``)."""

    box: bool = True
    name: bool = True
    percentage: bool = True
    thumbnail: bool = True
    track_id: bool = False

    @classmethod
    def from_config(cls, config: PreviewConfig) -> DrawOptions:
        return cls(box=config.draw_box, name=config.draw_name, percentage=config.draw_percentage,
                   thumbnail=config.draw_thumbnail, track_id=config.draw_track_id)


def scale_to_width(image: np.ndarray, width: int) -> tuple[np.ndarray, float]:
    """A copy of ``image`` scaled down to ``width`` (never up; 0 keeps the size) and the factor used."""
    if width <= 0 or width >= image.shape[1]:
        return image.copy(), 1.0
    factor = width / image.shape[1]
    height = max(1, round(image.shape[0] * factor))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), factor


def font_size(width: int) -> int:
    return max(MIN_FONT_PX, round(width * FONT_FRACTION))


def track_colour(name: str | None) -> tuple[int, int, int]:
    """Known, unknown or undecided (``name`` None)."""
    if name is None:
        return UNDECIDED_COLOUR
    return UNKNOWN_COLOUR if name == UNKNOWN else KNOWN_COLOUR


def draw_overlay(image: np.ndarray, tracks: Sequence[TrackView], options: DrawOptions, width: int,
                 painter: TextPainter, thumbnails: Thumbnails) -> np.ndarray:
    """``image`` scaled to ``width`` with each track drawn on it as ``options`` ask."""
    canvas, factor = scale_to_width(image, width)
    height, width = canvas.shape[:2]
    size = font_size(width)
    labels: list[Label] = []
    for track in tracks:
        box = track.box.scaled(factor).clipped(height, width)
        if box.area == 0:
            continue
        colour = track_colour(track.name)
        if options.thumbnail and track.name not in (None, UNKNOWN):
            _paste_thumbnail(canvas, box, thumbnails(track.name))
        if options.box:
            cv2.rectangle(canvas, (box.left, box.top), (box.right, box.bottom), colour, _line(width), cv2.LINE_AA)
        labels.extend(_labels(track, box, options, colour, painter, size, canvas.shape))
    painter.draw(canvas, labels, size)
    return canvas


def label_text(track: TrackView, options: DrawOptions) -> str:
    """The text under the box: the name and the percentage, each when asked for and known."""
    parts = []
    if options.name and track.name is not None:
        parts.append(track.name)
    if options.percentage and track.percentage is not None:
        parts.append(f"{track.percentage:.1f}%")
    return " ".join(parts)


def short_track_id(track_id: str) -> str:
    """``door-04211-7`` → ``7``: camera and start epoch are the same for every track of the picture."""
    return track_id.rsplit("-", 1)[-1]


def _labels(track: TrackView, box: FaceBox, options: DrawOptions, colour: tuple[int, int, int],
            painter: TextPainter, size: int, shape: tuple[int, ...]) -> list[Label]:
    """The name label below the box and the track id above it, kept inside the picture."""
    labels = []
    text = label_text(track, options)
    if text:
        w, h = painter.text_size(text, size)
        y = box.bottom + GAP_PX if box.bottom + GAP_PX + h <= shape[0] else max(box.bottom - h, 0)
        labels.append(Label(text, _fit(box.left, w, shape[1]), y, colour))
    if options.track_id:
        text = f"#{short_track_id(track.track_id)}"
        w, h = painter.text_size(text, size)
        y = box.top - GAP_PX - h if box.top - GAP_PX - h >= 0 else box.top
        labels.append(Label(text, _fit(box.left, w, shape[1]), y, colour))
    return labels


def _paste_thumbnail(canvas: np.ndarray, box: FaceBox, thumbnail: np.ndarray | None) -> None:
    """FACE01's default picture beside the box, as tall as the box: left of it, or right when no room."""
    if thumbnail is None:
        return
    height, width = canvas.shape[:2]
    th = min(max(box.height, MIN_THUMBNAIL_PX), height)
    tw = max(1, round(thumbnail.shape[1] * th / thumbnail.shape[0]))
    x = box.left - GAP_PX - tw if box.left - GAP_PX - tw >= 0 else box.right + GAP_PX
    if x + tw > width:
        return  # no room on either side: a thumbnail over the face would hide what matters
    y = min(max(box.top, 0), height - th)
    canvas[y:y + th, x:x + tw] = cv2.resize(thumbnail, (tw, th), interpolation=cv2.INTER_AREA)


def _fit(x: int, w: int, width: int) -> int:
    return max(0, min(x, width - w))


def _line(width: int) -> int:
    return max(1, round(width / 400))
