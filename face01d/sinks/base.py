"""The interface every event output shares (Frigate's ``Communicator``, cut down).

The daemon fans each event out to its sinks from the event loop, so
``publish_event`` must never block: a sink queues the event (bounded,
dropping and counting when full) and delivers it from its own task or
thread. ``start`` and ``stop`` bracket that task; ``stop`` delivers what it
can within ``timeout`` and then gives up, so one stuck output cannot hold
up shutdown.

Snapshots are not a sink: ``SnapshotWriter.submit`` needs the frame and
returns the path that the event then carries, so it runs *before* the
event is published.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from face01d.events.model import Event


@runtime_checkable
class Sink(Protocol):
    """An output of recognition events (MQTT, stdout, ...)."""

    async def start(self) -> None:
        """Start delivering; events published before this are kept in the queue."""

    def publish_event(self, event: Event) -> None:
        """Queue ``event`` for delivery; never blocks, never raises for a full queue."""

    async def stop(self, timeout: float) -> None:
        """Deliver what is queued within ``timeout`` seconds, then release resources."""
