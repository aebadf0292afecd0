"""Worker threads: one set of models per thread, jobs through a ThreadPoolExecutor."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from face01d.config.models import SetArea
from face01d.faces import Detection, EncodedFace, FaceBox
from face01d.vision.analyzer import FaceAnalyzer, analyzer_for_thread
from face01d.workers.base import PoolHealth, VisionSettings

T = TypeVar("T")


class ThreadWorkers:
    """The in-process pool: cheap hand-off (no copy), but one GIL for every encoding."""

    def __init__(self, settings: VisionSettings, threads: int) -> None:
        self.settings = settings
        self.threads = threads
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="face01d-vision")

    async def start(self) -> None:
        """Load this pool's models on one thread now, so a missing model fails start-up, not the first face."""
        await self._run(lambda: self._analyzer().load(self.settings.stages))

    async def detect(self, camera: str, image: np.ndarray, set_area: SetArea | None = None) -> list[Detection]:
        return await self._run(lambda: self._analyzer().detect(image, "bgr", set_area))

    async def encode(self, camera: str, image: np.ndarray, boxes: Sequence[FaceBox]) -> list[EncodedFace]:
        return await self._run(lambda: self._analyzer().encode_with_pose(image, boxes, "bgr"))

    async def stop(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def health(self) -> dict[str, PoolHealth]:
        """Threads do not die apart from the process: always all of them."""
        return {self.settings.pool: PoolHealth(self.threads, self.threads)}

    def _analyzer(self) -> FaceAnalyzer:
        settings = self.settings
        return analyzer_for_thread(settings.detector, settings.landmarks, settings.jitters)

    async def _run(self, work: Callable[[], T]) -> T:
        context = contextvars.copy_context()  # log records from the worker keep camera=...
        return await asyncio.get_running_loop().run_in_executor(self._executor, context.run, work)
