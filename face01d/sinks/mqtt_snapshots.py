"""Each event's frame as a JPEG on ``<prefix>/<node>/<camera>/snapshot`` (``publish_snapshots``).

A sink of its own on top of ``MqttSink``: encoding a 1080p JPEG costs
~10 ms, so it runs in a thread, and at most one frame per camera is in
flight, so a burst of events cannot pile up frames in memory (the later
ones are dropped and counted; the snapshot topic only keeps the latest
anyway). ``stop`` lets the frames in flight out: they belong to events
already accepted.
"""

from __future__ import annotations

import asyncio

import structlog

from face01d.events.model import Event
from face01d.faces import Frame
from face01d.sinks.base import Sink
from face01d.sinks.mqtt import MqttSink
from face01d.sinks.snapshots import encode_jpeg

log = structlog.get_logger(__name__)


class MqttSnapshots(Sink):
    def __init__(self, mqtt: MqttSink, jpeg_quality: int) -> None:
        self._mqtt = mqtt
        self._quality = jpeg_quality
        self._in_flight: dict[str, asyncio.Task[None]] = {}  # camera → its frame being encoded
        self.dropped = 0

    def publish_event(self, event: Event, frame: Frame | None = None) -> None:
        if frame is None:
            return
        if event.camera in self._in_flight:
            self.dropped += 1
            log.debug("snapshot publish dropped: one is in flight", camera=event.camera, dropped=self.dropped)
            return
        task = asyncio.create_task(self._publish(event.camera, frame), name=f"snapshot-publish:{event.camera}")
        self._in_flight[event.camera] = task

    async def _publish(self, camera: str, frame: Frame) -> None:
        try:
            jpeg = await asyncio.to_thread(encode_jpeg, frame.image, self._quality)
            self._mqtt.publish_snapshot(camera, jpeg)
        except Exception:  # noqa: BLE001 - a frame that will not encode costs that snapshot only
            log.exception("snapshot publish failed", camera=camera)
        finally:
            self._in_flight.pop(camera, None)

    async def stop(self, timeout: float) -> None:
        if self._in_flight:
            await asyncio.wait(list(self._in_flight.values()), timeout=timeout)
