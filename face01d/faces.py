"""Value types that every stage shares: a frame, a box, a detection, a face, a verdict.

This module imports nothing of face01d, so capture, vision, tracking,
recognition, events and sinks can all depend on it without depending on
each other. Boxes use FACE01's (and face_recognition's) convention, ``(top, right,
bottom, left)`` in pixels of the frame the caller passed in, so results can be
compared with face_recognition's directly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

UNKNOWN = "Unknown"  # the name given to a face that matches nobody in the gallery


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded camera image: what capture hands to the analysis, and outputs draw or save.

    ``image`` is BGR ``uint8`` (OpenCV's order); vision converts it to RGB in
    one place. ``index`` counts frames read from the source since the camera
    started, so gaps show what was skipped or dropped.
    """

    camera: str
    index: int
    image: np.ndarray
    captured_at: float  # time.time() when the frame was read (UTC epoch seconds)
    read_mono: float = field(default_factory=time.monotonic)  # when it was read, for latencies

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass(frozen=True, slots=True)
class FaceBox:
    top: int
    right: int
    bottom: int
    left: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(self.width, 0) * max(self.height, 0)

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.top, self.right, self.bottom, self.left)

    def as_dict(self) -> dict[str, int]:
        return {"top": self.top, "right": self.right, "bottom": self.bottom, "left": self.left}

    def clipped(self, height: int, width: int) -> FaceBox:
        """The box limited to an image of ``height`` × ``width`` pixels."""
        return FaceBox(
            top=min(max(self.top, 0), height),
            right=min(max(self.right, 0), width),
            bottom=min(max(self.bottom, 0), height),
            left=min(max(self.left, 0), width),
        )

    def scaled(self, factor: float, dy: int = 0, dx: int = 0) -> FaceBox:
        """Map a box from a resized/cropped image back: multiply, then offset."""
        return FaceBox(
            top=round(self.top * factor) + dy,
            right=round(self.right * factor) + dx,
            bottom=round(self.bottom * factor) + dy,
            left=round(self.left * factor) + dx,
        )


@dataclass(frozen=True, slots=True)
class Detection:
    """A face found by a detector; ``score`` is the detector's own confidence."""

    box: FaceBox
    score: float
    sharpness: float | None = None  # variance of the Laplacian of the face (vision.quality), if measured


@dataclass(frozen=True, slots=True)
class Face:
    """A detected face with its 128-D dlib embedding."""

    detection: Detection
    encoding: np.ndarray  # shape (128,), float64

    @property
    def box(self) -> FaceBox:
        return self.detection.box


@dataclass(frozen=True, slots=True)
class EncodedFace:
    """An encoding and how far the face was turned when it was taken (see vision.quality)."""

    encoding: np.ndarray  # shape (128,), float64
    yaw: float  # 0 frontal, ~0.3 at 30°, ≥ 0.5 in profile


@dataclass(frozen=True, slots=True)
class Sighting:
    """One face in one frame, with the gallery's verdict (``UNKNOWN`` if none)."""

    box: FaceBox
    name: str
    distance: float
    percentage: float


@dataclass(frozen=True, slots=True)
class Identification:
    """A track's identity, decided from several looks (recognition → events).

    ``latency_ms`` runs from the first frame of the track to the decision,
    on the machine's clock. ``encoding`` is the mean of the looks that
    voted: it lets the events stage tell one stranger from another.
    """

    track_id: str
    name: str  # UNKNOWN for a stranger
    distance: float | None
    percentage: float | None
    votes: int
    box: FaceBox
    frame_width: int
    frame_height: int
    captured_at: float  # the frame of the look that decided it
    latency_ms: float
    encoding: np.ndarray | None = None
    leaning: str | None = None  # a stranger whose looks leaned to this registered person (margin short)

    @property
    def known(self) -> bool:
        return self.name != UNKNOWN


@dataclass(frozen=True, slots=True)
class Vote:
    """One look at a tracked face, matched against the gallery (the input of a track's decision).

    ``name`` is the nearest registered person (never ``UNKNOWN``): whether it
    counts is for the decision rule (face01d.recognition.decision) to say.
    Distances are per person: to that person's closest gallery image.
    """

    name: str
    distance: float
    runner_up_distance: float  # to the nearest OTHER person; math.inf if the gallery has one person

    @property
    def margin(self) -> float:
        """How much nearer the nearest person is than anybody else."""
        return self.runner_up_distance - self.distance
