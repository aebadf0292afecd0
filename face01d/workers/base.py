"""The interface every worker pool offers the pipeline, and what it needs to know."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from face01d.config.models import DetectorConfig, SetArea
from face01d.faces import Detection, EncodedFace, FaceBox


@dataclass(frozen=True, slots=True)
class VisionSettings:
    """Everything a worker needs to build its models once (picklable, for processes)."""

    detector: DetectorConfig
    landmarks: Literal["small", "large"] = "small"
    jitters: int = 1
    stages: tuple[Literal["detect", "encode"], ...] = ("detect", "encode")  # the models a worker loads at start


class WorkerLost(Exception):
    """The worker running a job died (a crash in native code, OOM kill); the job is lost, the pool is not."""


class VisionWorkers(Protocol):
    """Detect and encode off the event loop.

    ``image`` is a BGR uint8 frame. The caller keeps at most one ``detect``
    and one ``encode`` per camera in flight, which is what keeps sharing fair:
    a busy camera cannot queue work ahead of the others.
    """

    async def start(self) -> None:
        """Start the workers and load their models; a ModelError if they cannot."""

    async def detect(self, camera: str, image: np.ndarray, set_area: SetArea | None = None) -> list[Detection]:
        """Faces in ``image``, largest first, boxes in its pixels, each with its sharpness."""

    async def encode(self, camera: str, image: np.ndarray, boxes: Sequence[FaceBox]) -> list[EncodedFace]:
        """One encoding (with the face's yaw) per box of ``image``."""

    async def stop(self) -> None:
        """Stop the workers; jobs in flight are abandoned."""
