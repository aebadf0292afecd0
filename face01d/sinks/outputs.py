"""The runtime's one door to its outputs.

Cameras and the daemon tell ``Outputs`` what happened; ``Outputs`` does the
few things every event needs whatever the outputs are (the snapshot path
first, because the event carries it; the event counter; the one log line)
and fans the news out to each ``Sink`` (sinks/base.py). The daemon holds no
output policy: MQTT presence, Home Assistant state, the live view and the
unknown crops are each a sink of their own.

One output's bug costs that output that piece of news, never the others
(the rule of Home Assistant's dispatcher): an exception is logged once per
output and kind of news, counted, and the fan-out goes on.

Sinks stop in the reverse order they were given, so an output built on
another (the MQTT snapshot publisher on the MQTT sink) stops first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import structlog

from face01d.events.model import Event
from face01d.faces import Frame
from face01d.shutdown import stage
from face01d.sinks.base import Sink, TrackView

if TYPE_CHECKING:
    from face01d.metrics import Metrics
    from face01d.sinks.snapshots import SnapshotWriter

log = structlog.get_logger(__name__)

INNER_TIMEOUT_SHARE = 0.9  # of a stop's timeout, for each output's own stop(): its deadline comes first


class Outputs:
    """Every output of the daemon behind one object; call it from the event loop only."""

    def __init__(self, sinks: Sequence[Sink], snapshots: SnapshotWriter | None = None,
                 metrics: Metrics | None = None) -> None:
        self.sinks = list(sinks)
        self._snapshots = snapshots
        self._metrics = metrics
        self._failing: set[tuple[str, str]] = set()  # (output, news) already logged
        self.failures = 0

    async def start(self) -> None:
        if self._snapshots is not None:
            await self._snapshots.start()
        for sink in self.sinks:
            await sink.start()

    def event(self, event: Event, frame: Frame | None) -> None:
        """One event: its snapshot path, its count and log line, then every sink."""
        if self._snapshots is not None and frame is not None and event.box is not None:
            event = event.with_snapshot(self._snapshots.submit(event, frame.image))
        if self._metrics is not None:
            self._metrics.event(event, read_mono=frame.read_mono if frame is not None else None)
        log.info("event", event_id=event.id, type=event.type.value, camera=event.camera, name=event.name,
                 distance=event.distance, track=event.track_id, votes=event.votes, latency_ms=event.latency_ms,
                 snapshot=event.snapshot)
        self._tell("event", lambda sink: sink.publish_event(event, frame))

    def camera_status(self, camera: str, online: bool) -> None:
        self._tell("camera status", lambda sink: sink.camera_status(camera, online))

    def presence(self, camera: str, present: frozenset[str]) -> None:
        self._tell("presence", lambda sink: sink.presence(camera, present))

    def wants_frames(self, camera: str) -> bool:
        """Whether any output wants ``camera``'s analysed frames now (a live view being watched)."""
        return any(sink.wants_frames(camera) for sink in self.sinks)

    def frame_analysed(self, camera: str, frame: Frame, tracks: Sequence[TrackView]) -> None:
        self._tell("frame", lambda sink: sink.frame_analysed(camera, frame, tracks) if sink.wants_frames(camera)
                   else None)

    def people_changed(self, people: Sequence[str]) -> None:
        self._tell("people", lambda sink: sink.people_changed(people))

    def stats(self, payload: Mapping[str, Any]) -> None:
        self._tell("stats", lambda sink: sink.publish_stats(payload))

    async def stop(self, timeout: float) -> None:
        """Each sink gets up to ``timeout`` seconds, in reverse order; then the snapshot writer."""
        inner = timeout * INNER_TIMEOUT_SHARE
        for sink in reversed(self.sinks):
            await stage(type(sink).__name__, sink.stop(inner), timeout)
        if self._snapshots is not None:
            await stage("snapshots", self._snapshots.stop(inner), timeout)

    def _tell(self, news: str, call: Callable[[Sink], None]) -> None:
        for sink in self.sinks:
            try:
                call(sink)
            except Exception:  # noqa: BLE001 - one output's bug must not silence the others
                self.failures += 1
                key = (type(sink).__name__, news)
                if key not in self._failing:  # presence news comes every frame: log once, count all
                    self._failing.add(key)
                    log.exception("output failed", output=key[0], news=news, failures=self.failures)
