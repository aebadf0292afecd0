"""HTTP enrollment on a node whose gallery comes from the broker: the edit goes to the publisher.

The routes stay those of ``face01d.enrollment.routes``; only ``add`` and
``remove`` differ. Each sends a request (``requests.send_request``), turns
the publisher's refusal into the same HTTP status, and on success waits
until the new version has been swapped in here (at most ``SWAP_WAIT_S``), so
that a ``/recognize`` right after the answer already knows the person.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from face01d.config.models import GalleryConfig, MqttConfig
from face01d.enrollment.routes import EnrollmentApi, Refused
from face01d.galleryshare.requests import RequestFailed, send_request
from face01d.recognition.recognizer import Recognizer
from face01d.workers.base import VisionWorkers

SWAP_WAIT_S = 10.0


class RemoteEnrollmentApi(EnrollmentApi):
    """``EnrollmentApi`` whose gallery edits are applied by the publisher, through the broker."""

    shared = True

    def __init__(self, mqtt: MqttConfig, node_id: str, workers: VisionWorkers,
                 recognizer: Callable[[], Recognizer | None], gallery: GalleryConfig, max_upload_mb: float,
                 reload: Callable[[], object]) -> None:
        super().__init__(workers, recognizer, gallery, max_upload_mb, reload)
        self._mqtt = mqtt
        self._node_id = node_id

    async def add(self, name: str, data: bytes) -> list[str]:
        files = await self._request("add", name, data)
        await self._until(lambda people: name in people)
        return files

    async def remove(self, name: str) -> list[str]:
        files = await self._request("remove", name, b"")
        await self._until(lambda people: name not in people)
        return files

    async def _request(self, action: str, name: str, data: bytes) -> list[str]:
        try:
            answer = await send_request(self._mqtt, self._node_id, action, name, data)
        except RequestFailed as error:
            raise Refused(error.status, str(error)) from None
        if int(answer.get("status", 500)) >= 300:
            raise Refused(int(answer.get("status", 500)), f"the publisher refused it: {answer.get('error')}")
        return [str(file) for file in answer.get("files", [])]

    async def _until(self, done: Callable[[tuple[str, ...]], bool]) -> None:
        """Until this node runs the version with the edit (or ``SWAP_WAIT_S``: it is on its way)."""
        deadline = time.monotonic() + SWAP_WAIT_S
        while time.monotonic() < deadline:
            recognizer = self.recognizer()
            if recognizer is not None and done(recognizer.gallery.people):
                return
            await asyncio.sleep(0.02)
