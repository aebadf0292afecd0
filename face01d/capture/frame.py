"""The unit that flows from capture to analysis."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded camera image.

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
