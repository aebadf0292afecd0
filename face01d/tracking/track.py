"""One face followed across frames: where it is, how good the best look was, what was decided."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from face01d.faces import Detection, FaceBox


class TrackPhase(str, Enum):
    TENTATIVE = "tentative"  # seen, not yet often enough to be worth an encoding
    CONFIRMED = "confirmed"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Look:
    """A track's face in one frame where it was detected (not merely predicted)."""

    box: FaceBox
    score: float  # the detector's confidence
    sharpness: float | None
    captured_at: float  # epoch seconds of the frame
    frame_index: int

    @property
    def quality(self) -> float:
        """Bigger and sharper is better: what "a clearly better view" compares."""
        sharp = 100.0 if self.sharpness is None else min(self.sharpness, 400.0)
        return self.box.area * max(sharp, 1.0) * max(self.score, 0.05)


@dataclass(slots=True)
class Track:
    """A face on one camera, from its first detection to its end.

    ``first_seen_mono`` is the monotonic time its first frame was read, so
    the decision latency is measured on the machine's clock even when a
    video file runs on its own timeline.
    """

    id: str
    look: Look  # the latest detection
    first_seen: float
    first_seen_mono: float
    last_seen: float
    hits: int = 1
    misses: int = 0  # detections in a row that did not find it
    phase: TrackPhase = TrackPhase.TENTATIVE
    box: FaceBox = field(init=False)  # the latest detected or predicted box
    velocity: tuple[float, float] = (0.0, 0.0)  # centre motion, pixels per second (x, y)

    def __post_init__(self) -> None:
        self.box = self.look.box

    @property
    def confirmed(self) -> bool:
        return self.phase is TrackPhase.CONFIRMED

    def observe(self, detection: Detection, captured_at: float, frame_index: int) -> None:
        """A detection continued this track: update the box, the velocity and the count."""
        elapsed = captured_at - self.look.captured_at
        if elapsed > 0:
            self.velocity = _centre_velocity(self.look.box, detection.box, elapsed)
        self.look = Look(detection.box, detection.score, detection.sharpness, captured_at, frame_index)
        self.box = detection.box
        self.last_seen = captured_at
        self.hits += 1
        self.misses = 0

    def predict(self, captured_at: float) -> None:
        """Move the box with the last velocity (between detections; cheap, no pixels)."""
        elapsed = captured_at - self.look.captured_at
        dx, dy = (round(v * elapsed) for v in self.velocity)
        box = self.look.box
        self.box = FaceBox(box.top + dy, box.right + dx, box.bottom + dy, box.left + dx)


def _centre_velocity(before: FaceBox, after: FaceBox, elapsed: float) -> tuple[float, float]:
    dx = (after.left + after.right - before.left - before.right) / 2
    dy = (after.top + after.bottom - before.top - before.bottom) / 2
    return dx / elapsed, dy / elapsed
