"""An output that keeps what it is told, for in-process runtime tests (a real ``Sink``, behind a real ``Outputs``)."""

from __future__ import annotations

from collections.abc import Sequence

from face01d.events.model import Event
from face01d.faces import Frame
from face01d.sinks.base import Sink, TrackView
from face01d.sinks.outputs import Outputs


class Recorder(Sink):
    def __init__(self, *, frames_wanted: bool = False) -> None:
        self.events: list[Event] = []
        self.statuses: list[bool] = []
        self.presence_seen: list[frozenset[str]] = []
        self.frames: list[tuple[int, list[TrackView]]] = []
        self.frames_wanted = frames_wanted

    def publish_event(self, event: Event, frame: Frame | None = None) -> None:
        self.events.append(event)

    def camera_status(self, camera: str, online: bool) -> None:
        self.statuses.append(online)

    def presence(self, camera: str, present: frozenset[str]) -> None:
        self.presence_seen.append(present)

    def wants_frames(self, camera: str) -> bool:
        return self.frames_wanted

    def frame_analysed(self, camera: str, frame: Frame, tracks: Sequence[TrackView]) -> None:
        self.frames.append((frame.index, list(tracks)))


def recording(**options: bool) -> tuple[Outputs, Recorder]:
    recorder = Recorder(**options)
    return Outputs([recorder]), recorder
