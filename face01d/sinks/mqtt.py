"""The MQTT sink: recognition events, presence and availability to a broker.

The daemon must start and keep recognising while the broker is away, so
nothing here waits on the network for the caller: ``publish_event`` and the
``set_*`` methods only record what should be said, and one background task
owns the connection (aiomqtt, MQTT 5), reconnects with backoff and says it.

Two kinds of outgoing data, kept apart because they fail differently:

* events — a bounded FIFO outbox; full means the oldest is dropped and
  counted, never that memory grows during a month-long broker outage;
* state — retained topics (availability, camera status, presence,
  discovery) where only the latest value per topic matters.

Call every method from the event loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import aiomqtt
import structlog
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from face01d.backoff import full_jitter
from face01d.config.models import MqttConfig
from face01d.errors import ConfigError
from face01d.events.model import Event
from face01d.sinks.discovery import DiscoveryContext, all_configs
from face01d.sinks.topics import Topics

log = structlog.get_logger(__name__)

# Module level so tests can shorten them (Home Assistant's mqtt component does the same).
RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 60.0
AUTH_RETRY_S = 300.0  # bad credentials: retry this rarely, do not hammer the broker
CLIENT_TIMEOUT_S = 10.0  # one publish / CONNACK wait
STOP_FLUSH_FRACTION = 0.6  # share of stop()'s timeout spent flushing events
PRESENCE_REFRESH_FRACTION = 1 / 3  # a repeated ON is re-sent after this share of its expiry

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
        self._outbox: deque[Event] = deque()
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
        self._counts = {"published": 0, "dropped": 0, "reconnects": 0, "attempts": 0, "expired": 0}

    @property
    def topics(self) -> Topics:
        return self._topics

    @property
    def stats(self) -> dict[str, object]:
        """Counters for health checks and logs."""
        return {"connected": self._connected, "queued": len(self._outbox), **self._counts}

    # -- the caller's side: record, never wait -------------------------------------------

    async def start(self) -> None:
        """Read credentials, then connect in the background and return at once.

        Raises ConfigError for an unreadable ``password_file``: that is the
        user's to fix, unlike a broker that is merely down.
        """
        if self._task is not None:
            return
        self._password = await self._load_password()
        self._task = asyncio.create_task(self._run(), name="mqtt-sink")

    def publish_event(self, event: Event) -> None:
        """Queue an event; when the outbox is full the oldest one is dropped."""
        if len(self._outbox) >= self._config.queue_size:
            self._outbox.popleft()
            self._counts["dropped"] += 1
            self._warn_overflow()
        self._outbox.append(event)
        self._wake.set()

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
        """Flush events, say ``offline`` (retained) and disconnect, within ``timeout``."""
        if self._task is None:
            return
        loop = asyncio.get_running_loop()
        self._flush_deadline = loop.time() + timeout * STOP_FLUSH_FRACTION
        self._stop_requested.set()
        self._wake.set()
        done, _ = await asyncio.wait({self._task}, timeout=timeout * 0.9)
        if not done:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=timeout * 0.1)
        if self._outbox:
            log.warning("mqtt.unsent_at_stop", events=len(self._outbox))

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

    def _event_message(self, event: Event) -> _Message:
        payload = _json(event.to_dict(published_at=time.time()))
        return _Message(self._topics.camera_event(event.camera), payload, self._config.qos, False)

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
            log.warning("mqtt.outbox_full", queue_size=self._config.queue_size, dropped=self._counts["dropped"])

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
            if self._pending or self._outbox:
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
        return not self._outbox and not self._pending

    async def _send_state(self, client: aiomqtt.Client) -> None:
        topic, message = next(iter(self._pending.items()))
        if message.expired:
            self._counts["expired"] += 1
        else:
            await self._send(client, message)
        if self._pending.get(topic) is message:  # a newer value may have arrived meanwhile
            del self._pending[topic]

    async def _send_event(self, client: aiomqtt.Client) -> None:
        event = self._outbox[0]
        await self._send(client, self._event_message(event))
        if self._outbox and self._outbox[0] is event:  # unless dropped while in flight
            self._outbox.popleft()
        if not self._outbox:
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
