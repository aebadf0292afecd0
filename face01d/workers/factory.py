"""Choosing the pools from the config: threads, processes, or one for each stage.

Detection and encoding need not run in the same place: HOG (dlib-bin)
releases the GIL and mediapipe is cheap, so detection does well on threads,
while dlib's encoder holds the GIL and only scales across processes.
``SplitWorkers`` routes each stage to its own pool behind the one
``VisionWorkers`` interface, so the pipeline never knows.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from collections.abc import Sequence
from typing import Literal

import numpy as np

from face01d.config.models import MqttConfig, SetArea, WorkersConfig
from face01d.faces import Detection, EncodedFace, FaceBox
from face01d.workers.base import PoolHealth, VisionSettings, VisionWorkers
from face01d.workers.processes import ProcessWorkers
from face01d.workers.threads import ThreadWorkers

MAX_DEFAULT_THREADS = 16
# A daemon's encoding processes yield to its capture and detection when every core is busy: a frame not
# decoded or detected in time is lost for good, a look can wait a frame; idle cores they use all the same
# (five 1080p30 cameras on two cores, bench/run row 9: the worst camera 4.4 % undetected at the same
# niceness, 0.4 % at +2; +5 cost four cameras' decisions 0.3 s more in row 4).
# A `face01d worker`'s encoders are its whole job and keep the default.
ENCODER_NICENESS = 2


def thread_count(config: WorkersConfig, cameras: int = 1) -> int:
    """``[workers] threads``, or one per camera, at least one per core, at most MAX_DEFAULT_THREADS.

    A camera's analysis waits for its detection before it takes the next
    frame, so with fewer threads than cameras one camera's frame queues behind
    another's and the detection cadence falls back although cores are free
    (bench/run, row 9: five 1080p30 cameras on two cores). Threads are
    started, and their models loaded, only when that many detections overlap.
    """
    if config.threads is not None:
        return config.threads
    return max(1, min(MAX_DEFAULT_THREADS, max(os.cpu_count() or 1, cameras)))


class SplitWorkers:
    """Detection on one pool, encoding on another; started and stopped together."""

    def __init__(self, detector: VisionWorkers, encoder: VisionWorkers) -> None:
        self.detector = detector
        self.encoder = encoder

    async def start(self) -> None:
        """Load both pools' models at once; if either fails, the other is stopped and the error raised."""
        outcomes = await asyncio.gather(self.detector.start(), self.encoder.start(), return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            await self.stop()
            raise failures[0]

    async def detect(self, camera: str, image: np.ndarray, set_area: SetArea | None = None) -> list[Detection]:
        return await self.detector.detect(camera, image, set_area)

    async def encode(self, camera: str, image: np.ndarray, boxes: Sequence[FaceBox]) -> list[EncodedFace]:
        return await self.encoder.encode(camera, image, boxes)

    async def stop(self) -> None:
        await asyncio.gather(self.detector.stop(), self.encoder.stop())

    def health(self) -> dict[str, PoolHealth]:
        return {**self.detector.health(), **self.encoder.health()}


def make_workers(config: WorkersConfig, settings: VisionSettings, mqtt: MqttConfig | None = None,
                 node_id: str = "face01d", cameras: int = 1) -> VisionWorkers:
    """One pool when both stages run in the same place, a SplitWorkers when they do not.

    ``encode = "remote"`` needs the broker (``mqtt``) and the node's id, which names its answers topic;
    ``cameras`` sizes the thread pool when ``threads`` is not set.
    """
    if config.detect == config.encode:
        return _pool(config.detect, config, settings, cameras)
    detector = _pool(config.detect, config, replace(settings, stages=("detect",)), cameras)
    encode_only = replace(settings, stages=("encode",), niceness=ENCODER_NICENESS)
    if config.encode == "remote":
        return SplitWorkers(detector, _remote(config, encode_only, mqtt, node_id))
    return SplitWorkers(detector, _pool(config.encode, config, encode_only, cameras))


def _remote(config: WorkersConfig, settings: VisionSettings, mqtt: MqttConfig | None, node_id: str) -> VisionWorkers:
    """Encoding on ``face01d worker`` services; the local fallback is the process pool it replaces."""
    from face01d.remote.node import RemoteEncoder  # noqa: PLC0415 - remote imports this package

    if mqtt is None or not mqtt.enabled:
        raise ValueError('encode = "remote" needs the MQTT broker: set [mqtt] enabled = true')
    fallback = ProcessWorkers(settings, config.processes) if config.remote_fallback == "local" else None
    return RemoteEncoder(config, settings, mqtt, node_id, fallback)


def _pool(where: Literal["thread", "process"], config: WorkersConfig, settings: VisionSettings,
          cameras: int) -> VisionWorkers:
    """A pool that loads the models of ``settings.stages`` (a split pool's halves load only their own)."""
    if where == "thread":
        return ThreadWorkers(settings, thread_count(config, cameras))
    return ProcessWorkers(settings, config.processes)
