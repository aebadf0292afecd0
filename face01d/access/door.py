"""One access camera's door: liveness for its tracks, off the event loop, and one answer per track.

The pipeline hands it every analysed frame with the camera's tracks
(``measure``, then ``due``), each track's identity when the namer decides it, and each track's end. A face
counts as *at the door* from its first frame ``min_face_px`` wide: from then
on its crops go through Face Mesh (face01d.liveness) in this camera's own
worker thread (mediapipe objects belong to the thread that made them; ~10 ms
of CPU a face, which the event loop never pays), until its verdict is
decided. The answer (face01d.access.decision) is given once per track, as
soon as it is named a registered person and its liveness is decided, else
``LIVENESS_GRACE_S`` after the liveness deadline (a stranger: the namer
looks again every ``reencode_s`` and may yet name them; a liveness still
undecided: too few usable frames, a slow camera, a face turned away), or
when the track ends first. A track that ends before its identity is decided gets no
answer: nobody's verdict was reached (the namer counts those).

A camera without ``access = true`` has no door: ``door_for`` returns None
and nothing here is made, no thread and no model.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import cv2
import numpy as np

from face01d.access.decision import answer, liveness_of
from face01d.config.access import AccessConfig
from face01d.config.models import CameraConfig, Config
from face01d.events.model import Event, EventType
from face01d.faces import FaceBox, Frame, Identification
from face01d.liveness import CameraLiveness, LivenessSettings, Verdict
from face01d.stats import Percentiles
from face01d.tracking import Track

# Liveness counts its deadline from the face's first *usable* frame (the mesh found it), which may come a few
# frames after its first frame at the door: an undecided verdict is answered this much after the deadline.
LIVENESS_GRACE_S = 1.0
ANNOUNCED = (EventType.RECOGNIZED, EventType.UNKNOWN)


@dataclass(slots=True)
class _AtDoor:
    """What the door knows of one track."""

    box: FaceBox
    last_seen: float
    widest: int = 0  # px: the widest its face has been
    arrived: float | None = None  # capture time of its first frame at min_face_px or wider
    who: Identification | None = None
    verdict: Verdict | None = None
    answered: bool = False

    @property
    def measuring(self) -> bool:
        """At the door, unanswered, liveness undecided: its next frame is worth a mesh."""
        undecided = self.verdict is None or self.verdict.state == "undecided"
        return self.arrived is not None and not self.answered and undecided


def door_for(camera: CameraConfig, config: Config) -> AccessPoint | None:
    """The camera's door, or None (and nothing made) for a camera without ``access = true``."""
    return AccessPoint(camera.name, config.daemon.node_id, config.access) if camera.access else None


class AccessPoint:
    """Per access camera; called from the event loop, measures in its own single worker thread."""

    def __init__(self, camera: str, node: str, rules: AccessConfig) -> None:
        self._camera, self._node, self._rules = camera, node, rules
        self._settings = LivenessSettings(deadline_s=rules.liveness_deadline_s)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"liveness:{camera}")
        self._liveness: CameraLiveness | None = None  # made, used and closed in the executor's thread only
        self._tracks: dict[str, _AtDoor] = {}
        self._frame_size = (0, 0)
        self._closed = False
        self.mesh_ms = Percentiles()  # per face measured: crop, colour conversion share, Face Mesh, verdict
        self.counts = {"faces_measured": 0, "granted": 0, "denied": 0}

    async def measure(self, frame: Frame, tracks: Sequence[Track]) -> None:
        """One analysed frame: measure the confirmed faces at the door whose liveness is still undecided."""
        self._frame_size = (frame.width, frame.height)
        wanted = [(t.id, t.box) for t in tracks if t.confirmed and self._seen(t, frame.captured_at).measuring]
        if not wanted:
            return
        loop = asyncio.get_running_loop()
        verdicts, costs = await loop.run_in_executor(self._executor, self._measure, frame.image, frame.captured_at,
                                                     wanted)
        for (track_id, _), verdict, cost in zip(wanted, verdicts, costs):
            if (door := self._tracks.get(track_id)) is not None:
                door.verdict = verdict
            self.mesh_ms.add(cost)
        self.counts["faces_measured"] += len(wanted)

    def due(self, now: float) -> list[Event]:
        """The answers due at ``now`` (a frame's capture time): identity and liveness decided, or overdue."""
        answers = (self._due(door, now) for door in list(self._tracks.values()))
        return [event for event in answers if event is not None]

    def identified(self, who: Identification, events: list[Event]) -> list[Event]:
        """A track's identity was decided: its announcement carries its liveness so far, and its answer
        follows if its liveness is decided too."""
        door = self._tracks.setdefault(who.track_id, _AtDoor(who.box, who.captured_at))
        door.who = who
        if door.verdict is not None:
            live = liveness_of(door.verdict)
            events = [replace(e, liveness=live) if e.track_id == who.track_id and e.type in ANNOUNCED else e
                      for e in events]
        answered = self._due(door, who.captured_at)
        return events + ([answered] if answered is not None else [])

    def ended(self, track: Track) -> list[Event]:
        """A track ended: its answer now if it has an identity and none yet; its state is dropped."""
        door = self._tracks.pop(track.id, None)
        if not self._closed:
            self._executor.submit(self._forget, track.id)
        if door is None or door.who is None or door.answered:
            return []
        return [self._answer(door, door.last_seen)]

    async def close(self) -> None:
        """Close the mesh in its own thread, then the thread."""
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close_liveness)
        self._executor.shutdown(wait=False)

    def stats(self) -> dict[str, object]:
        cost = self.mesh_ms.summary()
        return {**self.counts, "tracks": len(self._tracks),
                "mesh_ms": None if cost is None else {k: v for k, v in cost.items() if k != "histogram"}}

    # --- the event loop's side ------------------------------------------------------------------------------

    def _seen(self, track: Track, at: float) -> _AtDoor:
        door = self._tracks.setdefault(track.id, _AtDoor(track.box, at))
        door.box, door.last_seen, door.widest = track.box, at, max(door.widest, track.box.width)
        if door.arrived is None and track.box.width >= self._rules.min_face_px:
            door.arrived = at
        return door

    def _due(self, door: _AtDoor, now: float) -> Event | None:
        """The answer, when identity and liveness are both decided or the liveness is overdue."""
        if door.answered or door.who is None or door.arrived is None:
            return None
        decided = door.verdict is not None and door.verdict.state != "undecided"
        overdue = now - door.arrived >= self._rules.liveness_deadline_s + LIVENESS_GRACE_S
        # a stranger is answered only when overdue: the namer looks again and may yet name them
        return self._answer(door, now) if overdue or (decided and door.who.known) else None

    def _answer(self, door: _AtDoor, now: float) -> Event:
        assert door.who is not None
        who, result = door.who, answer(self._rules, door.who, door.widest, door.verdict)
        door.answered = True
        self.counts["granted" if result.granted else "denied"] += 1
        return Event(
            type=EventType.ACCESS, node=self._node, camera=self._camera, name=who.name, captured_at=now,
            distance=who.distance, percentage=who.percentage, box=door.box, frame_width=self._frame_size[0] or None,
            frame_height=self._frame_size[1] or None, track_id=who.track_id, votes=who.votes,
            latency_ms=None if door.arrived is None else round(max(now - door.arrived, 0.0) * 1000.0, 1),
            granted=result.granted, reasons=result.reasons,
            liveness=None if door.verdict is None else liveness_of(door.verdict),
        )

    # --- the worker thread's side ---------------------------------------------------------------------------

    def _measure(
        self, bgr: np.ndarray, at: float, faces: list[tuple[str, FaceBox]],
    ) -> tuple[list[Verdict], list[float]]:
        """Per face: its verdict and the wall ms it cost (its share of the colour conversion included)."""
        if self._liveness is None:
            self._liveness = CameraLiveness(self._settings)
        started = time.perf_counter()
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        shared = (time.perf_counter() - started) / len(faces)
        verdicts, costs = [], []
        for track_id, box in faces:
            started = time.perf_counter()
            verdicts.append(self._liveness.observe(track_id, at, rgb, box))  # type: ignore[arg-type]
            costs.append((time.perf_counter() - started + shared) * 1000.0)
        return verdicts, costs

    def _forget(self, track_id: str) -> None:
        if self._liveness is not None:
            self._liveness.forget(track_id)  # type: ignore[arg-type]

    def _close_liveness(self) -> None:
        if self._liveness is not None:
            self._liveness.close()
            self._liveness = None
