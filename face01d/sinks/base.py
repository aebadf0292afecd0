"""The interface every output shares (Frigate's ``Communicator``, widened).

The runtime tells its outputs five kinds of news, all from the event loop:
an event (with the frame it was decided on, when there is one), a camera
going online or offline, who is present on a camera after each analysed
frame, an analysed frame with its tracks (only to an output that asks for
frames right now: the live view while somebody watches), and the gallery's
people after a reload. Stats messages and ``start``/``stop`` bracket the rest.

``Sink`` gives every hook a no-op body: an output overrides what it uses, so
a new output is a new module and never a new branch in the runtime. No hook
may block: a sink queues and delivers from its own task or thread (bounded,
dropping and counting when full). ``stop`` delivers what it can within
``timeout`` and then gives up, so one stuck output cannot hold up shutdown.

A ``durable`` output keeps events on disk (the MQTT outbox): its
``publish_event`` returns a receipt, a future settled once the event is
committed (True) or refused (False), and ``Outputs`` tells the other outputs
of the event, and logs it, only then. Whatever kills the daemon, an event
that anyone was told of is on disk.

Snapshots on disk are not a sink: ``SnapshotWriter.submit`` returns the path
that the event then carries, so it runs *before* the sinks see the event
(``face01d.sinks.outputs.Outputs`` does that).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from face01d.events.model import Event
from face01d.faces import FaceBox, Frame


@dataclass(frozen=True, slots=True)
class TrackView:
    """One track in an analysed frame, as a drawing of it needs it.

    ``name`` is None while the track is undecided, ``UNKNOWN`` for a stranger.
    ``confirmed`` is False for a face seen in too few frames yet to be a
    track: the live view does not draw it (it may be a false detection),
    but ``blur_unknown`` obscures it, since it may be a stranger's first frames.
    """

    track_id: str
    box: FaceBox
    name: str | None = None
    percentage: float | None = None
    confirmed: bool = True


class Sink:
    """An output of face01d's news (MQTT, stdout, the live view, ...). Every hook is a no-op here."""

    durable: ClassVar[bool] = False  # True: publish_event returns the event's receipt (see the module)

    async def start(self) -> None:
        """Start delivering; what was published before is kept in the queue."""

    def publish_event(self, event: Event, frame: Frame | None = None) -> asyncio.Future[bool] | None:
        """Queue ``event``; never blocks, never raises for a full queue.

        ``frame`` is the frame the event was decided on (None for ``left``
        and at the end of a file); keep a reference only as long as needed.
        A ``durable`` output returns the event's receipt, the others None.
        """

    def camera_status(self, camera: str, online: bool) -> None:
        """A camera came online or went offline."""

    def presence(self, camera: str, present: frozenset[str]) -> None:
        """After every analysed frame: the registered people present on ``camera`` now."""

    def wants_frames(self, camera: str) -> bool:
        """Whether ``frame_analysed`` should be called for ``camera`` now (drawing costs: ask only when needed)."""
        return False

    def frame_analysed(self, camera: str, frame: Frame, tracks: Sequence[TrackView]) -> None:
        """An analysed frame and its tracks; called only while ``wants_frames(camera)``."""

    def people_changed(self, people: Sequence[str]) -> None:
        """The gallery was reloaded: these are its people now."""

    def publish_stats(self, payload: Mapping[str, Any]) -> None:
        """The daemon's figures (``face01d.metrics.Metrics.payload``), every ``stats_interval_s``."""

    async def stop(self, timeout: float) -> None:
        """Deliver what is queued within ``timeout`` seconds, then release resources."""
