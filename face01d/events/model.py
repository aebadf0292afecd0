"""Recognition events: what face01d tells the world, in one schema.

The same dictionary goes to MQTT and to ``--stdout`` (FACE01's JSON-lines
pipe), so consumers can switch transports without changing their parsers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from enum import Enum

from face01d.faces import UNKNOWN, FaceBox

__all__ = ["UNKNOWN", "Event", "EventType", "Liveness", "utc_iso"]


class EventType(str, Enum):
    RECOGNIZED = "recognized"  # a registered person appeared on a camera
    UNKNOWN = "unknown"  # a track decided to be nobody in the gallery
    LEFT = "left"  # a person has had no track for the presence timeout
    ACCESS = "access"  # an access camera's answer for one track: granted or denied, with the reasons


def utc_iso(epoch_seconds: float) -> str:
    """ISO 8601 in UTC with millisecond precision and a ``Z`` suffix."""
    moment = datetime.fromtimestamp(epoch_seconds, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Liveness:
    """A track's liveness as an event carries it (face01d.liveness's verdict, the fields a consumer needs)."""

    state: str  # live | not_live | undecided
    reason: str  # blink | glance | nonrigid | no_cue | waiting | too_few_frames | too_small
    elapsed_s: float  # since the face's first usable frame
    blinks: int = 0
    glances: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"state": self.state, "reason": self.reason, "elapsed_s": round(self.elapsed_s, 3),
                "blinks": self.blinks, "glances": self.glances}


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    node: str
    camera: str
    name: str
    captured_at: float  # epoch seconds of the frame that caused the event
    distance: float | None = None
    percentage: float | None = None
    box: FaceBox | None = None
    frame_width: int | None = None
    frame_height: int | None = None
    snapshot: str | None = None
    track_id: str | None = None
    votes: int | None = None  # looks the decision rests on
    latency_ms: float | None = None  # the track's first frame → the decision, on the machine's clock
    granted: bool | None = None  # access only
    reasons: tuple[str, ...] | None = None  # access only: why not granted, in a fixed order; () when granted
    liveness: Liveness | None = None  # where it was computed (access cameras): recognized, unknown, access
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def with_snapshot(self, path: str | None) -> Event:
        return replace(self, snapshot=path)

    def to_dict(self, published_at: float) -> dict[str, object]:
        """The wire schema (see README, "Event schema")."""
        return {
            "id": self.id,
            "type": self.type.value,
            "node": self.node,
            "camera": self.camera,
            "name": self.name,
            "distance": None if self.distance is None else round(self.distance, 4),
            "percentage": None if self.percentage is None else round(self.percentage, 2),
            "box": None if self.box is None else self.box.as_dict(),
            "frame": None if self.frame_width is None else {"width": self.frame_width, "height": self.frame_height},
            "captured_at": utc_iso(self.captured_at),
            "published_at": utc_iso(published_at),
            "snapshot": self.snapshot,
            "track_id": self.track_id,
            "votes": self.votes,
            "latency_ms": self.latency_ms,
            "granted": self.granted,
            "reasons": None if self.reasons is None else list(self.reasons),
            "liveness": None if self.liveness is None else self.liveness.as_dict(),
        }
