"""The runtime's one door to its outputs.

Cameras and the daemon tell ``Outputs`` what happened; ``Outputs`` does the
few things every event needs whatever the outputs are (the snapshot path
first, because the event carries it; the event counter; the one log line)
and fans the news out to each ``Sink`` (sinks/base.py). The daemon holds no
output policy: MQTT presence, Home Assistant state, the live view and the
unknown crops are each a sink of their own.

An event is told in two steps. A ``durable`` output (the MQTT outbox)
takes it first and hands back a receipt; only once the outbox has committed
it (fsynced, on the outbox's own thread: the loop never waits) do the event
counter, the ``event`` log line and every other output hear of it, in the
order the events came. So a line on stdout is an event on disk, even if the
process is killed the next instant; an event the outbox could not keep is
one error line and nothing else. Without a durable output nothing waits.

One output's bug costs that output that piece of news, never the others
(the rule of Home Assistant's dispatcher): an exception is logged once per
output and kind of news, counted, and the fan-out goes on.

Sinks stop in the reverse order they were given, so an output built on
another (the MQTT snapshot publisher on the MQTT sink) stops first.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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
FRAMES_HELD_MAX = 64  # events waiting for the outbox that keep their frame; later ones are told without it


@dataclass(frozen=True, slots=True)
class _Waiting:
    """An event whose durable outputs have not all settled its receipt yet."""

    event: Event
    frame: Frame | None
    receipts: list[asyncio.Future[bool]]

    @property
    def settled(self) -> bool:
        return all(receipt.done() for receipt in self.receipts)

    @property
    def committed(self) -> bool | None:
        """None without a durable output; else whether every one has it on disk."""
        if not self.receipts:
            return None
        return all(not r.cancelled() and r.exception() is None and r.result() for r in self.receipts)


class Outputs:
    """Every output of the daemon behind one object; call it from the event loop only."""

    def __init__(self, sinks: Sequence[Sink], snapshots: SnapshotWriter | None = None,
                 metrics: Metrics | None = None) -> None:
        self.sinks = list(sinks)
        self._snapshots = snapshots
        self._metrics = metrics
        self._failing: set[tuple[str, str]] = set()  # (output, news) already logged
        self._waiting: deque[_Waiting] = deque()  # events not told yet, in order
        self._settled = asyncio.Event()  # set whenever nothing waits
        self._settled.set()
        self._shedding = False  # frames of waiting events not kept (see _shed)
        self.failures = 0

    async def start(self) -> None:
        if self._snapshots is not None:
            await self._snapshots.start()
        for sink in self.sinks:
            await sink.start()

    def event(self, event: Event, frame: Frame | None) -> None:
        """One event: its snapshot path, the durable outputs; once they have it, the rest (``_announce``)."""
        if self._snapshots is not None and frame is not None and event.box is not None:
            event = event.with_snapshot(self._snapshots.submit(event, frame.image, frame.index))
        receipts = self._commit(event, frame)
        if frame is not None and len(self._waiting) >= FRAMES_HELD_MAX:
            frame = self._shed(frame)
        self._waiting.append(_Waiting(event, frame, receipts))
        self._settled.clear()
        for receipt in receipts:
            receipt.add_done_callback(self._release)
        self._release()

    def _commit(self, event: Event, frame: Frame | None) -> list[asyncio.Future[bool]]:
        """Hand the event to the durable outputs; their receipts."""
        receipts: list[asyncio.Future[bool]] = []
        for sink in self.sinks:
            if sink.durable:
                self._tell_one(sink, "event", lambda s: receipts.append(s.publish_event(event, frame)))
        return [receipt for receipt in receipts if receipt is not None]

    def _shed(self, frame: Frame) -> None:
        """The outbox is that slow: do not pile up frames behind it (warned once while it lasts)."""
        if not self._shedding:
            self._shedding = True
            log.warning("events wait for the outbox: their frames are not kept", waiting=len(self._waiting),
                        camera=frame.camera)

    def _release(self, _: object = None) -> None:
        """Tell every event at the head of the line whose receipts are all settled."""
        while self._waiting and self._waiting[0].settled:
            self._announce(self._waiting.popleft())
        if not self._waiting:
            self._settled.set()
            self._shedding = False

    def _announce(self, waiting: _Waiting) -> None:
        """Its count and log line, then every output that is not durable. An event the outbox
        could not keep (unserialisable, dropped while the disk failed, unsaved at stop) was never
        accepted: it is named in one error line and told nowhere else."""
        event, frame = waiting.event, waiting.frame
        if waiting.committed is False:
            log.error("event not accepted: the outbox could not keep it", event_id=event.id,
                      type=event.type.value, camera=event.camera, name=event.name)
            return
        if self._metrics is not None:
            self._metrics.event(event, read_mono=frame.read_mono if frame is not None else None)
        log.info("event", event_id=event.id, type=event.type.value, camera=event.camera, name=event.name,
                 distance=event.distance, track=event.track_id, votes=event.votes, latency_ms=event.latency_ms,
                 snapshot=event.snapshot, outbox=waiting.committed is not None)
        for sink in self.sinks:
            if not sink.durable:
                self._tell_one(sink, "event", lambda s: s.publish_event(event, frame))

    def camera_status(self, camera: str, online: bool) -> None:
        self._tell("camera status", lambda sink: sink.camera_status(camera, online))

    def presence(self, camera: str, present: frozenset[str]) -> None:
        self._tell("presence", lambda sink: sink.presence(camera, present))

    def wants_frames(self, camera: str) -> bool:
        """Whether any output wants ``camera``'s analysed frames now (a live view being watched,
        or snapshots that blur strangers: ``[snapshots] blur_unknown``)."""
        snapshots = self._snapshots is not None and self._snapshots.wants_frames(camera)
        return snapshots or any(sink.wants_frames(camera) for sink in self.sinks)

    def frame_analysed(self, camera: str, frame: Frame, tracks: Sequence[TrackView]) -> None:
        if self._snapshots is not None:
            self._snapshots.frame_analysed(camera, frame, tracks)
        self._tell("frame", lambda sink: sink.frame_analysed(camera, frame, tracks) if sink.wants_frames(camera)
                   else None)

    def people_changed(self, people: Sequence[str]) -> None:
        self._tell("people", lambda sink: sink.people_changed(people))

    def stats(self, payload: Mapping[str, Any]) -> None:
        self._tell("stats", lambda sink: sink.publish_stats(payload))

    async def stop(self, timeout: float) -> None:
        """The events waiting for the outbox are told first (within ``timeout``); then each sink
        gets up to ``timeout`` seconds, in reverse order; then the snapshot writer."""
        inner = timeout * INNER_TIMEOUT_SHARE
        await stage("events waiting for the outbox", self._settled.wait(), timeout)
        for sink in reversed(self.sinks):
            await stage(type(sink).__name__, sink.stop(inner), timeout)
            if sink.durable:
                await asyncio.sleep(0)  # its last receipts' callbacks: tell those events to the others
        if self._snapshots is not None:
            await stage("snapshots", self._snapshots.stop(inner), timeout)

    def _tell(self, news: str, call: Callable[[Sink], object]) -> None:
        for sink in self.sinks:
            self._tell_one(sink, news, call)

    def _tell_one(self, sink: Sink, news: str, call: Callable[[Sink], object]) -> None:
        try:
            call(sink)
        except Exception:  # noqa: BLE001 - one output's bug must not silence the others
            self.failures += 1
            key = (type(sink).__name__, news)
            if key not in self._failing:  # presence news comes every frame: log once, count all
                self._failing.add(key)
                log.exception("output failed", output=key[0], news=news, failures=self.failures)
