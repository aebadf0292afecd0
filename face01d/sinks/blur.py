"""``[snapshots] blur_unknown``: whole-frame snapshots that show only registered people.

A full-frame snapshot keeps the face of everybody who passed, enrolled or
not. With ``blur_unknown`` on, every face in the frame that is not a
registered person (a stranger, or a track not decided yet) is pixelated and
blurred, with a margin, before the file is written; the event's own face
crop and the crops kept for enrollment stay as they are (enrollment needs
them, and their retention bounds them).

The snapshot writer learns the frame's faces from the tracks the pipeline
reports after each analysed frame (the live view's ``frame_analysed``):
``FrameFaces`` keeps each camera's last few frames of track boxes, with
every track's newest verdict. An event is decided on a frame the pipeline
analysed a moment before (its look was encoded meanwhile), so the boxes of
that very frame are used, else those of the nearest frame before it. The
event's own track takes the event's verdict; a stranger's own box is
blurred even when no track reported it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import cv2
import numpy as np

from face01d.events.model import Event
from face01d.faces import UNKNOWN, FaceBox
from face01d.sinks.base import TrackView

FRAMES_KEPT = 64  # per camera: an event's frame is a few frames old (its look was being encoded)
BLUR_MARGIN = 0.25  # of the box, on each side: hair, ears and chin go too
PIXELS_ACROSS = 8  # a face is reduced to this many blocks across before the blur: nothing to undo


def registered(name: str | None) -> bool:
    """A verdict naming a person of the gallery (None: undecided)."""
    return name is not None and name != UNKNOWN


class FrameFaces:
    """The last FRAMES_KEPT frames' track boxes per camera, and each track's newest verdict."""

    def __init__(self, frames_kept: int = FRAMES_KEPT) -> None:
        self._frames: dict[str, deque[tuple[int, tuple[TrackView, ...]]]] = {}
        self._verdicts: dict[str, dict[str, str | None]] = {}
        self._kept = frames_kept

    def note(self, camera: str, frame_index: int, tracks: Sequence[TrackView]) -> None:
        """One analysed frame's tracks (from the event loop, after each frame)."""
        frames = self._frames.setdefault(camera, deque(maxlen=self._kept))
        frames.append((frame_index, tuple(tracks)))
        verdicts = self._verdicts.setdefault(camera, {})
        verdicts.update((track.track_id, track.name) for track in tracks)
        if len(verdicts) > 4 * self._kept:  # forget tracks no kept frame shows
            shown = {track.track_id for _, views in frames for track in views}
            self._verdicts[camera] = {key: name for key, name in verdicts.items() if key in shown}

    def to_blur(self, event: Event, frame_index: int | None) -> tuple[FaceBox, ...]:
        """The boxes of ``event``'s frame to blur: every face but registered people's."""
        views = self._views(event.camera, frame_index)
        verdicts = self._verdicts.get(event.camera, {})
        boxes = [view.box for view in views if not registered(self._verdict(view, event, verdicts))]
        if event.box is not None and not registered(event.name) and event.box not in boxes:
            boxes.append(event.box)
        return tuple(boxes)

    def _views(self, camera: str, frame_index: int | None) -> tuple[TrackView, ...]:
        """The tracks of that frame, else of the nearest frame before it, else of the newest."""
        frames = self._frames.get(camera)
        if not frames:
            return ()
        if frame_index is None:
            return frames[-1][1]
        before = [views for index, views in frames if index <= frame_index]
        return before[-1] if before else frames[0][1]

    @staticmethod
    def _verdict(view: TrackView, event: Event, verdicts: dict[str, str | None]) -> str | None:
        if view.track_id == event.track_id:
            return event.name
        return verdicts.get(view.track_id, view.name)


def blur_faces(image: np.ndarray, boxes: Sequence[FaceBox], margin: float = BLUR_MARGIN) -> np.ndarray:
    """A copy of ``image`` with each box (grown by ``margin``) pixelated and blurred; CPU: call in a thread."""
    if not boxes:
        return image
    out = image.copy()
    height, width = out.shape[:2]
    for box in boxes:
        dy, dx = round(box.height * margin), round(box.width * margin)
        area = FaceBox(box.top - dy, box.right + dx, box.bottom + dy, box.left - dx).clipped(height, width)
        if area.area:
            out[area.top:area.bottom, area.left:area.right] = _obscure(out[area.top:area.bottom, area.left:area.right])
    return out


def _obscure(region: np.ndarray) -> np.ndarray:
    """Blocks of a few pixels, then a Gaussian blur over them: no face features survive."""
    rows, cols = region.shape[:2]
    across = max(1, min(PIXELS_ACROSS, cols, rows))
    small = cv2.resize(region, (across, max(1, round(across * rows / cols))), interpolation=cv2.INTER_AREA)
    blocky = cv2.resize(small, (cols, rows), interpolation=cv2.INTER_NEAREST)
    kernel = max(3, (min(rows, cols) // 4) | 1)
    return cv2.GaussianBlur(blocky, (kernel, kernel), 0)
