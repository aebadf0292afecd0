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
    niceness: int = 0  # added to a worker process's nice value at start (face01d.workers.factory says when)

    @property
    def pool(self) -> str:
        """The pool's name in health reports and metrics: the stages it serves ("detect+encode", "encode")."""
        return "+".join(self.stages)


class WorkerLost(Exception):
    """The job is lost: its worker died (a crash in native code, OOM kill), hung past the job timeout, or
    the pool has no worker at the moment (replacements failing). The pool goes on, and keeps replacing."""


@dataclass(frozen=True, slots=True)
class PoolHealth:
    """How one pool stands, for /readyz, the metrics and the watchdog.

    ``alive`` workers have their models loaded and take jobs; ``reason`` says
    why the pool is unavailable, and is set only while it has no worker at
    all *and* a replacement failed (the usual second or two in which a dead
    worker's replacement loads its models is not an outage).

    ``restart_helps`` is False for a pool whose workers live elsewhere (remote
    encoding): restarting this process cannot bring them back, so the
    watchdog must not act on its ``reason`` (readiness still does).
    """

    alive: int
    wanted: int
    reason: str | None = None
    failed_starts: int = 0  # replacement attempts that failed since the pool started
    restart_helps: bool = True

    @property
    def available(self) -> bool:
        return self.reason is None

    def as_dict(self) -> dict[str, object]:
        return {"alive": self.alive, "wanted": self.wanted, "available": self.available, "reason": self.reason,
                "failed_starts": self.failed_starts}


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

    def health(self) -> dict[str, PoolHealth]:
        """Each pool by the stages it serves ("detect+encode", or "detect" and "encode" when split)."""
