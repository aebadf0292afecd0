"""The events' path from the MQTT sink to the broker, through the durable outbox.

Apart from ``mqtt.py`` because events fail differently from retained state:
each event is written to a durable outbox on disk (``outbox.py``) before it
is published and deleted after the broker's PUBACK, so a broker outage, a
crash or a power cut loses nothing accepted; bounded by count and age (the
oldest dropped, counted and logged). An event that cannot be serialised, or
that the broker can never take, is logged, counted and set aside, so it
cannot block the events behind it.

Two halves, both on the event loop's thread: a writer task that commits
accepted events to the outbox in batches, and ``send_event``, called by the
sink's connection task, which publishes the outbox's head in order.

``accept`` hands back a receipt, a future settled once the outbox has the
event (True) or will never have it (False: unserialisable, dropped while the
disk fails, still unsaved at stop). The daemon tells its other outputs of an
event only once its receipt is settled (``Outputs.event``): a line printed
on stdout is then an event on disk, whatever kills the process after it.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections import deque
from pathlib import Path

import aiomqtt
import structlog

from face01d.config.models import MqttConfig
from face01d.errors import ConfigError
from face01d.events.model import Event, utc_iso
from face01d.sinks.link import reason
from face01d.sinks.messages import Message, to_json
from face01d.sinks.outbox import Opened, Outbox, Pending, Stored, Trimmed
from face01d.sinks.topics import Topics

log = structlog.get_logger(__name__)

Receipt = asyncio.Future[bool]  # True once the outbox has committed the event, False if it never will

OUTBOX_RETRY_S = 1.0  # after a failed outbox write (disk full...), retry this often
OUTBOX_READ_MAX = 256  # events read from the outbox at a time (at most queue_size)
POISON_ATTEMPTS = 3  # an event in flight when the connection died this often in a row is set aside

# paho error numbers that say "this message", not "this connection": set the event aside.
_MESSAGE_ERRORS = frozenset({3, 9, 10})  # MQTT_ERR_INVAL, MQTT_ERR_PAYLOAD_SIZE, MQTT_ERR_NOT_SUPPORTED


class EventDelivery:
    """Accepts events, commits them to the outbox and publishes them in order."""

    def __init__(
        self, config: MqttConfig, topics: Topics, path: Path, counts: dict[str, int], wake: asyncio.Event
    ) -> None:
        self._config = config
        self._topics = topics
        self._counts = counts  # the sink's counters, shared
        self._wake = wake  # wakes the sink's drain
        self._outbox = Outbox(path, config.outbox_max_events, config.outbox_max_age_s)
        self._incoming: deque[tuple[Pending, Receipt]] = deque()  # accepted, not yet committed to the outbox
        self._ready: deque[Stored] = deque()  # the outbox's head, read for publishing
        self._stored = 0  # rows in the outbox, as last seen
        self._in_flight: list[tuple[Pending, Receipt]] = []  # being committed by the writer
        self._accepted = asyncio.Event()  # wakes the writer
        self._saved = asyncio.Event()  # the writer has nothing left to commit
        self._writer: asyncio.Task[None] | None = None
        self._stopping = False
        self._disk_failing = False
        self._attempt: tuple[int, int] = (-1, 0)  # (seq, attempts) of the event at the head
        self._overflowing = False

    @property
    def path(self) -> Path:
        return self._outbox.path

    @property
    def stored(self) -> int:
        """Rows in the outbox, as last seen."""
        return self._stored

    @property
    def queued(self) -> int:
        return len(self._incoming) + self._stored

    @property
    def running(self) -> bool:
        return self._writer is not None

    @property
    def has_work(self) -> bool:
        return bool(self._ready or self._stored)

    @property
    def flushed(self) -> bool:
        """Everything accepted is committed, and the broker has all of it."""
        return not self._stored and self._saved.is_set()

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the outbox and start the writer task.

        Raises ConfigError for an outbox that cannot be opened: that is the
        user's to fix, unlike a broker that is merely down. A corrupt one is
        mended (``outbox.py``) and said here.
        """
        try:
            opened = await self._outbox.open()
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"mqtt outbox unusable: {self._outbox.path}: {exc}") from None
        self._say_found(opened)
        self._after_trim(opened.trimmed)
        log.info("mqtt.outbox_opened", path=str(self._outbox.path), events=opened.trimmed.count)
        self._writer = asyncio.create_task(self._write(), name="mqtt-outbox-writer")

    def _say_found(self, opened: Opened) -> None:
        """A repair is an error (events may be lost); files that say events were lost are warnings."""
        path = str(self._outbox.path)
        if (repair := opened.repair) is not None:
            self._counts["outbox_corrupt"] += 1
            log.error("mqtt.outbox_corrupt", path=path, moved_to=str(repair.moved_to), error=repair.error,
                      carried=repair.carried)
        if opened.found.empty:
            log.warning("mqtt.outbox_found_empty", path=path,
                        detail="0 bytes and no -wal: the events it held, if any, are lost")
        if opened.found.wal_missing:
            log.warning("mqtt.outbox_wal_missing", path=path,
                        detail="its -wal was deleted after a crash: events committed since the last checkpoint are lost")

    def request_stop(self) -> None:
        """Let the writer end once everything accepted is committed."""
        self._stopping = True
        self._accepted.set()

    async def close(self, timeout: float) -> None:
        """Give the writer ``timeout`` to finish, then close the outbox; what is unsent stays there."""
        if self._writer is None:
            return
        await asyncio.wait({self._writer}, timeout=timeout)
        self._writer.cancel()
        self._writer = None  # a second stop() has nothing to do
        await self._close_outbox()
        for _, receipt in [*self._in_flight, *self._incoming]:  # not known to be on disk
            _settle(receipt, False)

    async def _close_outbox(self) -> None:
        try:
            left = await self._outbox.count()
            await self._outbox.close()
        except (OSError, sqlite3.Error) as exc:
            log.error("mqtt.outbox_error", path=str(self._outbox.path), error=str(exc))
            return
        if left or self._incoming:
            log.info("mqtt.outbox_kept", events=left, path=str(self._outbox.path), not_saved=len(self._incoming))

    # -- accepting: record, never wait ----------------------------------------------------

    def accept(self, event: Event) -> Receipt:
        """Accept an event: serialised now, committed to the outbox by the writer task.

        Returns its receipt (see the module's docstring). An event that cannot
        be serialised is logged and counted, never queued: its receipt is False.
        """
        receipt: Receipt = asyncio.get_running_loop().create_future()
        try:
            payload = to_json(event.to_dict(published_at=time.time()))
        except Exception as exc:  # noqa: BLE001 — one bad event must not reach, or block, the queue
            self._counts["unserialisable"] += 1
            log.error("mqtt.event_unserialisable", event_id=event.id, error=repr(exc))
            _settle(receipt, False)
            return receipt
        if len(self._incoming) >= self._config.queue_size:  # only while the disk is failing
            self._drop_oldest()
            self._warn_overflow()
        self._incoming.append((Pending(event.id, event.camera, payload, time.time()), receipt))
        self._saved.clear()
        self._accepted.set()
        return receipt

    def _drop_oldest(self) -> None:
        _, receipt = self._incoming.popleft()
        _settle(receipt, False)
        self._counts["dropped"] += 1

    def _warn_overflow(self) -> None:
        """One warning per overflow episode, not one per dropped event."""
        if not self._overflowing:
            self._overflowing = True
            log.warning("mqtt.queue_full", queue_size=self._config.queue_size, dropped=self._counts["dropped"])

    def _after_trim(self, trimmed: Trimmed) -> None:
        """Count and log what the outbox's bounds dropped."""
        self._stored = trimmed.count
        if not (trimmed.full or trimmed.old):
            return
        self._ready.clear()  # may hold dropped rows; re-read the head
        self._counts["dropped"] += trimmed.full
        self._counts["aged_out"] += trimmed.old
        log.warning("mqtt.outbox_trimmed", beyond_max_events=trimmed.full, older_than_max_age=trimmed.old,
                    max_events=self._config.outbox_max_events, max_age_s=self._config.outbox_max_age_s)

    # -- the outbox writer task -----------------------------------------------------------

    async def _write(self) -> None:
        """Commit accepted events to the outbox in batches; ends once stopping and saved."""
        while True:
            if not self._incoming:
                if not self._saved.is_set():
                    self._saved.set()
                    self._wake.set()  # a stopping drain waits for this to call itself flushed
                if self._stopping:
                    return
                self._accepted.clear()
                await self._accepted.wait()
                continue
            batch = self._in_flight = list(self._incoming)
            self._incoming.clear()
            try:
                trimmed = await self._outbox.add([pending for pending, _ in batch])
            except (OSError, sqlite3.Error) as exc:
                self._in_flight = []
                self._incoming.extendleft(reversed(batch))
                self._disk_down(exc)
                await asyncio.sleep(OUTBOX_RETRY_S)
                continue
            for _, receipt in batch:  # in order: the daemon's other outputs hear of them in this order
                _settle(receipt, True)
            self._in_flight = []
            self._disk_failing = False
            self._after_trim(trimmed)
            self._wake.set()

    def _disk_down(self, exc: BaseException) -> None:
        while len(self._incoming) > self._config.queue_size:
            self._drop_oldest()
        if not self._disk_failing:
            self._disk_failing = True
            log.error("mqtt.outbox_error", path=str(self._outbox.path), error=str(exc), retry_in_s=OUTBOX_RETRY_S)

    # -- publishing: called by the sink's connection task ---------------------------------

    def reread_head(self) -> None:
        """Forget the head read so far: bounds may have dropped some of it meanwhile."""
        self._ready.clear()

    async def send_event(self, client: aiomqtt.Client) -> None:
        """Publish the outbox's oldest event; delete it once the broker has it (PUBACK)."""
        if not self._ready:
            rows, trimmed = await self._outbox.head(min(self._config.queue_size, OUTBOX_READ_MAX))
            self._after_trim(trimmed)
            self._ready.extend(rows)
            if not rows:
                return
        row = self._ready[0]
        try:
            await self._publish_row(client, row)
        except aiomqtt.MqttError as exc:
            if not isinstance(exc, aiomqtt.MqttCodeError) or getattr(exc.rc, "value", exc.rc) not in _MESSAGE_ERRORS:
                raise  # the connection's problem: keep the event, reconnect
            await self._set_aside(row, exc)
        except Exception as exc:  # noqa: BLE001 — this event's problem (a bad row, a payload paho refuses)
            await self._set_aside(row, exc)
        else:
            await self._outbox.remove(row.seq)
            self._forget(row)

    async def _publish_row(self, client: aiomqtt.Client, row: Stored) -> None:
        """Publish, unless the connection died during this event's last attempts."""
        seq, attempts = self._attempt if self._attempt[0] == row.seq else (row.seq, 0)
        if attempts >= POISON_ATTEMPTS:
            raise RuntimeError(f"connection lost during each of {attempts} attempts to publish it")
        self._attempt = (seq, attempts + 1)
        await self._event_message(row).publish(client)
        self._counts["published"] += 1

    def _event_message(self, row: Stored) -> Message:
        """The stored event JSON, its ``published_at`` set to now (this attempt)."""
        payload = json.loads(row.payload)
        payload["published_at"] = utc_iso(time.time())
        return Message(self._topics.camera_event(row.camera), to_json(payload), self._config.qos, False)

    async def _set_aside(self, row: Stored, exc: BaseException) -> None:
        self._counts["rejected"] += 1
        log.error("mqtt.event_rejected", event_id=row.event_id, camera=row.camera, error=reason(exc),
                  path=str(self._outbox.path))
        await self._outbox.reject(row, reason(exc))
        self._forget(row)

    def _forget(self, row: Stored) -> None:
        if self._ready and self._ready[0] is row:  # unless the bounds dropped it while in flight
            self._ready.popleft()
            self._stored = max(0, self._stored - 1)
        if not self._ready and not self._stored:
            self._overflowing = False


def _settle(receipt: Receipt, committed: bool) -> None:
    if not receipt.done():
        receipt.set_result(committed)
