"""The MQTT sink: recognition events, presence and availability to a broker.

The daemon must start and keep recognising while the broker is away, so
nothing here waits on the network for the caller: ``publish_event`` and the
``set_*`` methods only record what should be said, and one background task
owns the connection (aiomqtt, MQTT 5), reconnects with backoff and says it.

Two kinds of outgoing data, kept apart because they fail differently:

* events — a durable outbox on disk (``outbox.py``): each event is written
  there before it is published and deleted after the broker's PUBACK, so a
  broker outage, a crash or a power cut loses nothing accepted; bounded by
  count and age (the oldest dropped, counted and logged). An event that
  cannot be serialised, or that the broker can never take, is logged,
  counted and set aside, so it cannot block the events behind it;
* state — retained topics (availability, camera status, presence,
  discovery) where only the latest value per topic matters.

Call every method from the event loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sqlite3
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import structlog
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from face01d.backoff import full_jitter
from face01d.config.models import MqttConfig
from face01d.errors import ConfigError
from face01d.events.model import Event, utc_iso
from face01d.sinks.discovery import DiscoveryContext, all_configs
from face01d.sinks.outbox import Outbox, Pending, Stored, Trimmed, default_outbox_path
from face01d.sinks.topics import Topics

log = structlog.get_logger(__name__)

# Module level so tests can shorten them (Home Assistant's mqtt component does the same).
RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 60.0
AUTH_RETRY_S = 300.0  # bad credentials: retry this rarely, do not hammer the broker
CLIENT_TIMEOUT_S = 10.0  # one publish / CONNACK wait
STOP_FLUSH_FRACTION = 0.6  # share of stop()'s timeout spent flushing events
PRESENCE_REFRESH_FRACTION = 1 / 3  # a repeated ON is re-sent after this share of its expiry
OUTBOX_RETRY_S = 1.0  # after a failed outbox write (disk full...), retry this often
OUTBOX_READ_MAX = 256  # events read from the outbox at a time (at most queue_size)
POISON_ATTEMPTS = 3  # an event in flight when the connection died this often in a row is set aside

# paho error numbers that say "this message", not "this connection": set the event aside.
_MESSAGE_ERRORS = frozenset({3, 9, 10})  # MQTT_ERR_INVAL, MQTT_ERR_PAYLOAD_SIZE, MQTT_ERR_NOT_SUPPORTED

# CONNACK codes meaning "your credentials are wrong": MQTT 3.1.1 (4, 5) and MQTT 5 (134, 135).
_AUTH_REFUSED = frozenset({4, 5, 134, 135})


@dataclass(slots=True)
class _Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    expires_at: float | None = None  # time.monotonic(); None: never

    def properties(self) -> Properties | None:
        """MQTT 5 Message Expiry Interval for what is left of this message's life."""
        if self.expires_at is None:
            return None
        properties = Properties(PacketTypes.PUBLISH)
        properties.MessageExpiryInterval = max(1, math.ceil(self.expires_at - time.monotonic()))
        return properties

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= time.monotonic()


def is_auth_refusal(exc: aiomqtt.MqttError) -> bool:
    """True when the broker refused the CONNECT for the credentials.

    Only a CONNACK counts: paho's own error numbers overlap (4 is also
    "not connected" when a publish meets a dropped connection).
    """
    rc = getattr(exc, "rc", None)
    return isinstance(exc, MqttConnectError) and getattr(rc, "value", rc) in _AUTH_REFUSED


class MqttSink:
    """Publishes face01d's events and state to one MQTT broker."""

    def __init__(
        self,
        config: MqttConfig,
        node_id: str,
        cameras: Sequence[str],
        people: Sequence[str],
        presence_expire_s: float = 10.0,
    ) -> None:
        self._config = config
        self._topics = Topics(config.topic_prefix, node_id)
        self._discovery = DiscoveryContext(self._topics, node_id, config.discovery_prefix, presence_expire_s)
        self._cameras = list(cameras)
        self._people = list(people)
        self._presence_expire_s = presence_expire_s
        self._client_id = config.client_id or f"face01d-{node_id}"
        self._password: str | None = None
        path = config.outbox_path or default_outbox_path(node_id)
        self._outbox = Outbox(path, config.outbox_max_events, config.outbox_max_age_s)
        self._incoming: deque[Pending] = deque()  # accepted, not yet committed to the outbox
        self._ready: deque[Stored] = deque()  # the outbox's head, read for publishing
        self._stored = 0  # rows in the outbox, as last seen
        self._accepted = asyncio.Event()  # wakes the writer
        self._saved = asyncio.Event()  # the writer has nothing left to commit
        self._writer: asyncio.Task[None] | None = None
        self._disk_failing = False
        self._attempt: tuple[int, int] = (-1, 0)  # (seq, attempts) of the event at the head
        self._pending: dict[str, _Message] = {}  # retained state not yet sent, latest wins
        self._camera_online: dict[str, bool] = {}
        self._presence_fresh_until: dict[str, float] = {}  # monotonic time a repeated ON waits for
        self._discovery_topics: set[str] = set()
        self._wake = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._flush_deadline = math.inf
        self._task: asyncio.Task[None] | None = None
        self._connected = False
        self._ever_connected = False
        self._failures = 0
        self._down_logged: str | None = None  # the outage already logged at full level
        self._overflowing = False
        self._counts = {"published": 0, "dropped": 0, "aged_out": 0, "rejected": 0, "unserialisable": 0,
                        "reconnects": 0, "attempts": 0, "expired": 0}

    @property
    def topics(self) -> Topics:
        return self._topics

    @property
    def stats(self) -> dict[str, object]:
        """Counters for health checks and logs."""
        return {"connected": self._connected, "queued": len(self._incoming) + self._stored,
                "outbox": self._stored, **self._counts}

    @property
    def outbox_path(self) -> Path:
        return self._outbox.path

    # -- the caller's side: record, never wait -------------------------------------------

    async def start(self) -> None:
        """Read credentials, open the outbox, then connect in the background and return.

        Raises ConfigError for an unreadable ``password_file`` or an outbox
        that cannot be opened: those are the user's to fix, unlike a broker
        that is merely down.
        """
        if self._task is not None:
            return
        self._password = await self._load_password()
        try:
            trimmed = await self._outbox.open()
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"mqtt outbox unusable: {self._outbox.path}: {exc}") from None
        self._after_trim(trimmed)
        log.info("mqtt.outbox_opened", path=str(self._outbox.path), events=trimmed.count)
        self._writer = asyncio.create_task(self._write(), name="mqtt-outbox-writer")
        self._task = asyncio.create_task(self._run(), name="mqtt-sink")

    def publish_event(self, event: Event) -> None:
        """Accept an event: serialised now, committed to the outbox by the writer task.

        An event that cannot be serialised is logged and counted, never queued.
        """
        try:
            payload = _json(event.to_dict(published_at=time.time()))
        except Exception as exc:  # noqa: BLE001 — one bad event must not reach, or block, the queue
            self._counts["unserialisable"] += 1
            log.error("mqtt.event_unserialisable", event_id=event.id, error=repr(exc))
            return
        if len(self._incoming) >= self._config.queue_size:  # only while the disk is failing
            self._incoming.popleft()
            self._counts["dropped"] += 1
            self._warn_overflow()
        self._incoming.append(Pending(event.id, event.camera, payload, time.time()))
        self._saved.clear()
        self._accepted.set()

    def set_camera_status(self, camera: str, online: bool) -> None:
        """Retained ``online`` / ``offline`` for one camera; replayed on reconnect."""
        if self._camera_online.get(camera) == online:
            return
        self._camera_online[camera] = online
        self._put_state(self._camera_message(camera, online))

    def set_presence(self, camera: str, name: str, present: bool) -> None:
        """Retained ``ON`` / ``OFF``; ON expires so no old sighting is replayed as fresh.

        Call it with ``True`` on every sighting: a repeated ON is only sent
        again once a fraction of its life has passed, which keeps the broker's
        copy (and Home Assistant's ``expire_after``) alive without flooding.
        """
        topic = self._topics.person(camera, name)
        now = time.monotonic()
        if present and now < self._presence_fresh_until.get(topic, -math.inf):
            return
        refresh = self._presence_expire_s * PRESENCE_REFRESH_FRACTION
        self._presence_fresh_until[topic] = now + refresh if present else -math.inf
        expires_at = now + self._presence_expire_s if present else None
        self._put_state(_Message(topic, b"ON" if present else b"OFF", self._config.qos, True, expires_at))

    def publish_snapshot(self, camera: str, jpeg: bytes) -> None:
        """The latest JPEG of a camera (not retained); ignored unless configured."""
        if self._config.publish_snapshots:
            self._put_state(_Message(self._topics.snapshot(camera), bytes(jpeg), 0, False))

    def update_people(self, people: Sequence[str]) -> None:
        """The gallery changed: publish the new discovery configs, remove the old."""
        self._people = list(people)
        if not self._config.discovery:
            return
        configs = self._discovery_messages()
        for topic in self._discovery_topics - configs.keys():
            self._put_state(_Message(topic, b"", 1, True))  # an empty config deletes the entity
        for message in configs.values():
            self._put_state(message)
        self._discovery_topics = set(configs)

    async def stop(self, timeout: float = 5.0) -> None:
        """Commit accepted events, flush to the broker, say ``offline`` and disconnect,
        within ``timeout``. What the broker has not acknowledged stays in the outbox."""
        if self._task is None or self._writer is None:
            return
        loop = asyncio.get_running_loop()
        self._flush_deadline = loop.time() + timeout * STOP_FLUSH_FRACTION
        self._stop_requested.set()
        self._wake.set()
        self._accepted.set()
        done, _ = await asyncio.wait({self._task}, timeout=timeout * 0.9)
        if not done:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=timeout * 0.05)
        await asyncio.wait({self._writer}, timeout=max(0.0, self._flush_deadline - loop.time()) + timeout * 0.05)
        self._writer.cancel()
        self._writer = None  # a second stop() has nothing to do
        await self._close_outbox()

    async def _close_outbox(self) -> None:
        try:
            left = await self._outbox.count()
            await self._outbox.close()
        except (OSError, sqlite3.Error) as exc:
            log.error("mqtt.outbox_error", path=str(self._outbox.path), error=str(exc))
            return
        if left or self._incoming:
            log.info("mqtt.outbox_kept", events=left, path=str(self._outbox.path), not_saved=len(self._incoming))

    # -- building messages --------------------------------------------------------------

    def _put_state(self, message: _Message) -> None:
        self._pending.pop(message.topic, None)  # move to the end: keep state changes in order
        self._pending[message.topic] = message
        self._wake.set()

    def _camera_message(self, camera: str, online: bool) -> _Message:
        payload = b"online" if online else b"offline"
        return _Message(self._topics.camera_status(camera), payload, self._config.qos, True)

    def _status_message(self, online: bool) -> _Message:
        return _Message(self._topics.status, b"online" if online else b"offline", 1, True)

    def _discovery_messages(self) -> dict[str, _Message]:
        configs = all_configs(self._discovery, self._cameras, self._people)
        return {topic: _Message(topic, _json(payload), 1, True) for topic, payload in configs}

    def _event_message(self, row: Stored) -> _Message:
        """The stored event JSON, its ``published_at`` set to now (this attempt)."""
        payload = json.loads(row.payload)
        payload["published_at"] = utc_iso(time.time())
        return _Message(self._topics.camera_event(row.camera), _json(payload), self._config.qos, False)

    def _connect_messages(self) -> dict[str, _Message]:
        """What every (re)connect says first: online, discovery, camera statuses."""
        messages = {self._topics.status: self._status_message(True)}
        if self._config.discovery:
            discovery = self._discovery_messages()
            self._discovery_topics = set(discovery)
            messages |= discovery
        for camera, online in self._camera_online.items():
            message = self._camera_message(camera, online)
            messages[message.topic] = message
        return messages

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

    # -- the outbox writer task ---------------------------------------------------------

    async def _write(self) -> None:
        """Commit accepted events to the outbox in batches; ends once stopping and saved."""
        while True:
            if not self._incoming:
                if not self._saved.is_set():
                    self._saved.set()
                    self._wake.set()  # a stopping drain waits for this to call itself flushed
                if self._stop_requested.is_set():
                    return
                self._accepted.clear()
                await self._accepted.wait()
                continue
            batch = list(self._incoming)
            self._incoming.clear()
            try:
                trimmed = await self._outbox.add(batch)
            except (OSError, sqlite3.Error) as exc:
                self._incoming.extendleft(reversed(batch))
                self._disk_down(exc)
                await asyncio.sleep(OUTBOX_RETRY_S)
                continue
            self._disk_failing = False
            self._after_trim(trimmed)
            self._wake.set()

    def _disk_down(self, exc: BaseException) -> None:
        while len(self._incoming) > self._config.queue_size:
            self._incoming.popleft()
            self._counts["dropped"] += 1
        if not self._disk_failing:
            self._disk_failing = True
            log.error("mqtt.outbox_error", path=str(self._outbox.path), error=str(exc), retry_in_s=OUTBOX_RETRY_S)

    # -- the connection task ------------------------------------------------------------

    async def _load_password(self) -> str | None:
        path = self._config.password_file
        if path is None:
            return None if self._config.password is None else self._config.password.get_secret_value()
        try:
            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"mqtt password_file not found: {path}") from None
        except OSError as exc:
            raise ConfigError(f"mqtt password_file unreadable: {path}: {exc.strerror}") from None
        return text.rstrip("\r\n")

    def _new_client(self) -> aiomqtt.Client:
        config = self._config
        tls = aiomqtt.TLSParameters(ca_certs=str(config.ca_file) if config.ca_file else None) if config.tls else None
        return aiomqtt.Client(
            config.host,
            config.port,
            username=config.username,
            password=self._password,
            identifier=self._client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            will=aiomqtt.Will(self._topics.status, b"offline", qos=1, retain=True),
            keepalive=config.keepalive_s,
            timeout=CLIENT_TIMEOUT_S,
            tls_params=tls,
        )

    async def _run(self) -> None:
        """Connect, publish, reconnect — until stop() is asked for."""
        while not self._stop_requested.is_set():
            self._counts["attempts"] += 1
            try:
                async with self._new_client() as client:
                    await self._session(client)
                return  # a session only ends without an error when stopping
            except aiomqtt.MqttError as exc:
                delay = self._after_failure(exc)
            except Exception:  # a bug must not end publishing for the months the daemon runs
                log.exception("mqtt.sink_error")
                delay = self._after_failure(None)
            finally:
                self._connected = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_requested.wait(), delay)

    def _after_failure(self, exc: aiomqtt.MqttError | None) -> float:
        """Log the failure once per outage and say how long to wait."""
        if exc is not None and is_auth_refusal(exc):
            self._log_down("mqtt.auth_failed", exc, AUTH_RETRY_S, error=True)
            return AUTH_RETRY_S
        delay = full_jitter(self._failures, RECONNECT_MIN_S, RECONNECT_MAX_S)
        self._failures += 1
        event = "mqtt.connection_lost" if self._connected else "mqtt.unreachable"
        self._log_down(event, exc, delay, error=False)
        return delay

    def _log_down(self, event: str, exc: BaseException | None, retry_in: float, *, error: bool) -> None:
        fields = {
            "host": self._config.host,
            "port": self._config.port,
            "reason": _reason(exc),
            "retry_in_s": round(retry_in, 2),
        }
        if self._down_logged == event:
            log.debug(event, **fields)
            return
        self._down_logged = event
        if error:
            log.error(event, username=self._config.username, **fields)
        else:
            log.warning(event, **fields)

    def _on_connected(self) -> None:
        if self._ever_connected:
            self._counts["reconnects"] += 1
        self._ever_connected = True
        self._connected = True
        self._failures = 0
        self._down_logged = None
        log.info("mqtt.connected", host=self._config.host, port=self._config.port, client_id=self._client_id)
        self._ready.clear()  # re-read the outbox's head: bounds may have dropped some meanwhile
        fresh = self._connect_messages()
        self._pending = fresh | {topic: msg for topic, msg in self._pending.items() if topic not in fresh}

    async def _session(self, client: aiomqtt.Client) -> None:
        """Publish until stopping; an MqttError means the connection is gone."""
        self._on_connected()
        watcher = asyncio.create_task(_wait_disconnect(client))
        drain = asyncio.create_task(self._drain(client))
        try:
            done, _ = await asyncio.wait({watcher, drain}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (watcher, drain):
                task.cancel()
            await asyncio.gather(watcher, drain, return_exceptions=True)
        for task in done:
            task.result()
        await client.publish(self._topics.status, b"offline", qos=1, retain=True)
        log.info("mqtt.stopped", **self.stats)

    async def _drain(self, client: aiomqtt.Client) -> None:
        """Send state first, then events in order; returns once stopping and flushed."""
        loop = asyncio.get_running_loop()
        while True:
            if self._stop_requested.is_set() and (self._flushed or loop.time() >= self._flush_deadline):
                return
            if self._pending or self._ready or self._stored:
                await self._send_next(client)
            else:
                self._wake.clear()
                await self._wake.wait()

    async def _send_next(self, client: aiomqtt.Client) -> None:
        """State first, then the oldest event. While stopping, no single publish may
        outlive the flush deadline: ``offline`` must still be said after it."""
        send = self._send_state if self._pending else self._send_event
        if not self._stop_requested.is_set():
            await send(client)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(self._flush_deadline):
                await send(client)

    @property
    def _flushed(self) -> bool:
        return not self._pending and not self._stored and self._saved.is_set()

    async def _send_state(self, client: aiomqtt.Client) -> None:
        topic, message = next(iter(self._pending.items()))
        if message.expired:
            self._counts["expired"] += 1
        else:
            await self._send(client, message)
        if self._pending.get(topic) is message:  # a newer value may have arrived meanwhile
            del self._pending[topic]

    async def _send_event(self, client: aiomqtt.Client) -> None:
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
        await self._send(client, self._event_message(row))

    async def _set_aside(self, row: Stored, exc: BaseException) -> None:
        self._counts["rejected"] += 1
        log.error("mqtt.event_rejected", event_id=row.event_id, camera=row.camera, error=_reason(exc),
                  path=str(self._outbox.path))
        await self._outbox.reject(row, _reason(exc))
        self._forget(row)

    def _forget(self, row: Stored) -> None:
        if self._ready and self._ready[0] is row:  # unless the bounds dropped it while in flight
            self._ready.popleft()
            self._stored = max(0, self._stored - 1)
        if not self._ready and not self._stored:
            self._overflowing = False

    async def _send(self, client: aiomqtt.Client, message: _Message) -> None:
        await client.publish(message.topic, message.payload, message.qos, message.retain, message.properties())
        self._counts["published"] += 1


async def _wait_disconnect(client: aiomqtt.Client) -> None:
    """Return (by raising MqttError) when the connection drops; we subscribe to nothing."""
    async for _ in client.messages:
        pass


def _reason(exc: BaseException | None) -> str:
    """The underlying cause: aiomqtt wraps a dropped connection in a generic message."""
    return str(exc.__cause__ or exc) if exc is not None else "unexpected error"


def _json(payload: dict[str, object]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
