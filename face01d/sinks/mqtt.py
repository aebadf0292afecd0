"""The MQTT sink: recognition events, presence and availability to a broker.

The daemon must start and keep recognising while the broker is away, so
nothing here waits on the network for the caller: ``publish_event`` and the
``set_*`` methods only record what should be said, and one background task
owns the connection (aiomqtt, MQTT 5), reconnects with backoff and says it.

Two kinds of outgoing data, kept apart because they fail differently:

* events — a durable outbox on disk, delivered in order and at least once
  (``delivery.py``, over ``outbox.py``);
* state — retained topics (availability, camera status, presence, the
  last recognition, discovery) and short-lived messages (device triggers,
  snapshots, stats) where only the latest value per topic matters.

Home Assistant's birth message (``<discovery_prefix>/status`` = ``online``)
makes the sink say its discovery configs and current state again.

``MqttSink`` is the façade: it owns the connection and the state, and wires
the event delivery into the connection task.

Call every method from the event loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiomqtt
import structlog

from face01d.backoff import AUTH_RETRY_S, Backoff
from face01d.config.models import MqttConfig
from face01d.events.model import Event, EventType
from face01d.faces import Frame
from face01d.sinks.base import Sink
from face01d.sinks.delivery import POISON_ATTEMPTS, EventDelivery, Receipt
from face01d.sinks.discovery import DiscoveryContext, all_configs
from face01d.sinks.link import BrokerClient, MessageRefused, Outages, check_tls_files, load_password, tls_parameters
from face01d.sinks.messages import Message, to_json
from face01d.sinks.outbox import default_outbox_path
from face01d.sinks.presence_topics import PresenceTopics
from face01d.sinks.topics import Topics

log = structlog.get_logger(__name__)

# Module level so tests can shorten them (Home Assistant's mqtt component does the same);
# AUTH_RETRY_S, for refused credentials, is face01d.backoff's, shared with the cameras.
RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 60.0
CLIENT_TIMEOUT_S = 10.0  # one publish / CONNACK wait
STOP_FLUSH_FRACTION = 0.6  # share of stop()'s timeout spent flushing events
TRIGGER_LIFE_S = 30.0  # a device trigger not delivered by then is dropped: "just recognised" goes stale


class MqttSink(Sink):
    """Publishes face01d's events and state to one MQTT broker."""

    durable = True  # events go through the outbox on disk: see publish_event

    def __init__(self, config: MqttConfig, node_id: str, cameras: Sequence[str], people: Sequence[str],
                 presence_expire_s: float = 10.0, access_cameras: Sequence[str] = ()) -> None:
        self._config = config
        self._topics = Topics(config.topic_prefix, node_id)
        self._discovery = DiscoveryContext(
            self._topics, node_id, config.discovery_prefix, presence_expire_s,
            friendly_name=config.friendly_name, snapshots=config.publish_snapshots, qos=config.qos,
            access_cameras=frozenset(access_cameras),
        )
        self._cameras = list(cameras)
        self._people = list(people)
        self._client_id = config.client_id or f"face01d-{node_id}"
        self._password: str | None = None
        self._pending: dict[str, Message] = {}  # retained state not yet sent, latest wins
        self._camera_online: dict[str, bool] = {}
        self._presence = PresenceTopics(self._topics, presence_expire_s, config.qos)
        self._last_recognized: dict[str, Message] = {}  # per camera, retained
        self._state_attempts: dict[str, tuple[Message, int]] = {}  # per topic: the message tried, how often
        self._discovery_topics: set[str] = set()
        self._wake = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._flush_deadline = math.inf
        self._task: asyncio.Task[None] | None = None
        self._connected = False
        self._ever_connected = False
        self._outages = Outages(config, Backoff(RECONNECT_MIN_S, RECONNECT_MAX_S, AUTH_RETRY_S))
        self._counts = {"published": 0, "dropped": 0, "aged_out": 0, "rejected": 0, "unserialisable": 0,
                        "reconnects": 0, "attempts": 0, "expired": 0, "state_rejected": 0, "outbox_corrupt": 0}
        path = config.outbox_path or default_outbox_path(node_id)
        self._delivery = EventDelivery(config, self._topics, path, self._counts, self._wake)

    @property
    def topics(self) -> Topics:
        return self._topics

    @property
    def stats(self) -> dict[str, object]:
        """Counters for health checks and logs."""
        return {"connected": self._connected, "queued": self._delivery.queued,
                "outbox": self._delivery.stored, **self._counts}

    @property
    def outbox_path(self) -> Path:
        return self._delivery.path

    # -- the caller's side: record, never wait -------------------------------------------

    async def start(self) -> None:
        """Read credentials, open the outbox, then connect in the background and return.

        Raises ConfigError for an unreadable ``password_file`` or an outbox
        that cannot be opened: those are the user's to fix, unlike a broker
        that is merely down.
        """
        if self._task is not None:
            return
        self._password = await load_password(self._config)
        await check_tls_files(self._config)
        await self._delivery.open()
        self._task = asyncio.create_task(self._run(), name="mqtt-sink")

    def publish_event(self, event: Event, frame: Frame | None = None) -> Receipt:
        """Accept an event (serialised now, committed to the outbox by the writer task); its receipt.

        An unserialisable event is logged and counted, never queued. Once the receipt is
        settled, a recognition sets "last recognised" and fires the device trigger, and a
        ``left`` turns presence OFF: nothing of an event reaches the broker before it is on disk.
        """
        receipt = self._delivery.accept(event)
        receipt.add_done_callback(lambda _: self._event_state(event))
        return receipt

    def _event_state(self, event: Event) -> None:
        if event.type is EventType.RECOGNIZED:
            self._announce(event)
        elif event.type is EventType.LEFT:
            self.set_presence(event.camera, event.name, False)

    def presence(self, camera: str, present: frozenset[str]) -> None:
        """ON for who is present, after every frame: retained presence expires unless refreshed
        (``set_presence`` rate-limits the repeats). OFF comes with ``left``."""
        for name in present:
            self.set_presence(camera, name, True)

    def publish_stats(self, payload: Mapping[str, object]) -> None:
        """Counters as JSON on ``<prefix>/<node>/stats``: QoS 0, not retained, latest wins."""
        self._put_state(Message(self._topics.stats, json.dumps(payload).encode("utf-8"), 0, False))

    def camera_status(self, camera: str, online: bool) -> None:
        """Retained ``online`` / ``offline`` for one camera; replayed on reconnect."""
        if self._camera_online.get(camera) == online:
            return
        self._camera_online[camera] = online
        self._put_state(self._camera_message(camera, online))

    def set_presence(self, camera: str, name: str, present: bool) -> None:
        """Retained ``ON`` / ``OFF``; call it with ``True`` on every sighting (see ``PresenceTopics``)."""
        if (message := self._presence.say(camera, name, present, time.monotonic())) is not None:
            self._put_state(message)

    def publish_snapshot(self, camera: str, jpeg: bytes) -> None:
        """The latest JPEG of a camera (not retained); ignored unless configured."""
        if self._config.publish_snapshots:
            self._put_state(Message(self._topics.snapshot(camera), bytes(jpeg), 0, False))

    def people_changed(self, people: Sequence[str]) -> None:
        """The gallery changed: publish the new discovery configs, remove the old
        (an empty retained config deletes the entity), then clear the presence
        of who left the gallery and say OFF for who joined it."""
        gone = [name for name in self._people if name not in people]
        joined = [name for name in people if name not in self._people]
        self._people = list(people)
        if self._config.discovery:
            configs = self._discovery_messages()
            for topic in self._discovery_topics - configs.keys():
                self._put_state(Message(topic, b"", 1, True))
            for message in configs.values():
                self._put_state(message)
            self._discovery_topics = set(configs)
        for camera in self._cameras:
            for name in gone:
                self._put_state(self._presence.remove(camera, name))
            for name in joined:
                self._put_state(self._presence.current(camera, name, time.monotonic()))

    async def stop(self, timeout: float = 5.0) -> None:
        """Turn presence OFF, commit accepted events, flush to the broker, say ``offline`` and disconnect,
        within ``timeout``. What the broker has not acknowledged stays in the outbox."""
        if self._task is None or not self._delivery.running:
            return
        for message in self._presence.clear():
            self._put_state(message)
        loop = asyncio.get_running_loop()
        self._flush_deadline = loop.time() + timeout * STOP_FLUSH_FRACTION
        self._stop_requested.set()
        self._wake.set()
        self._delivery.request_stop()
        done, _ = await asyncio.wait({self._task}, timeout=timeout * 0.9)
        if not done:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=timeout * 0.05)
        await self._delivery.close(max(0.0, self._flush_deadline - loop.time()) + timeout * 0.05)

    # -- building messages --------------------------------------------------------------

    def _put_state(self, message: Message) -> None:
        self._pending.pop(message.topic, None)  # move to the end: keep state changes in order
        self._pending[message.topic] = message
        self._wake.set()

    def _camera_message(self, camera: str, online: bool) -> Message:
        payload = b"online" if online else b"offline"
        return Message(self._topics.camera_status(camera), payload, self._config.qos, True)

    def _announce(self, event: Event) -> None:
        """A recognition: the retained "last recognised" state and the device trigger."""
        try:
            payload = to_json(event.to_dict(published_at=time.time()))
        except (TypeError, ValueError):  # the outbox has logged and counted it already
            return
        last = Message(self._topics.last_recognized(event.camera), payload, self._config.qos, True)
        self._last_recognized[event.camera] = last
        self._put_state(last)
        expires_at = time.monotonic() + TRIGGER_LIFE_S
        self._put_state(Message(self._topics.trigger(event.camera, event.name), payload,
                                self._config.qos, False, expires_at))

    def _status_message(self, online: bool) -> Message:
        return Message(self._topics.status, b"online" if online else b"offline", 1, True)

    def _discovery_messages(self) -> dict[str, Message]:
        configs = all_configs(self._discovery, self._cameras, self._people)
        return {topic: Message(topic, to_json(payload), 1, True) for topic, payload in configs}

    def _connect_messages(self) -> dict[str, Message]:
        """What every (re)connect and Home Assistant birth says first: online, discovery,
        camera statuses, the last recognitions, and every person's presence (OFF unless
        an ON is still alive, so that no old ON is ever replayed)."""
        messages = {self._topics.status: self._status_message(True)}
        if self._config.discovery:
            discovery = self._discovery_messages()
            self._discovery_topics = set(discovery)
            messages |= discovery
        state = [self._camera_message(camera, online) for camera, online in self._camera_online.items()]
        state += self._last_recognized.values()
        now = time.monotonic()
        state += [self._presence.current(camera, name, now) for camera in self._cameras for name in self._people]
        return messages | {message.topic: message for message in state}

    def _say_state_again(self) -> None:
        """Put the connect messages first; a pending value of another topic keeps its place."""
        fresh = self._connect_messages()
        self._pending = fresh | {topic: msg for topic, msg in self._pending.items() if topic not in fresh}
        self._wake.set()

    # -- the connection task ------------------------------------------------------------

    def _new_client(self) -> aiomqtt.Client:
        """A fresh client per attempt: paho reads the TLS files on connect, so a renewed
        certificate is picked up by the next reconnect without a restart."""
        config = self._config
        return BrokerClient(
            config.host,
            config.port,
            username=config.username,
            password=self._password,
            identifier=self._client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            will=aiomqtt.Will(self._topics.status, b"offline", qos=1, retain=True),
            keepalive=config.keepalive_s,
            timeout=CLIENT_TIMEOUT_S,
            tls_params=tls_parameters(config),
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
        """Log the failure (once per outage) and say how long to wait."""
        return self._outages.failed(exc, self._connected)

    def _on_connected(self) -> None:
        if self._ever_connected:
            self._counts["reconnects"] += 1
        self._ever_connected = True
        self._connected = True
        self._outages.connected()
        log.info("mqtt.connected", host=self._config.host, port=self._config.port, client_id=self._client_id)
        self._delivery.reread_head()  # re-read the outbox's head: bounds may have dropped some meanwhile
        self._say_state_again()

    async def _session(self, client: aiomqtt.Client) -> None:
        """Publish until stopping; an MqttError means the connection is gone."""
        self._on_connected()
        if self._config.discovery:
            await client.subscribe(self._discovery.birth_topic, qos=1)
        watcher = asyncio.create_task(self._listen(client))
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

    async def _listen(self, client: aiomqtt.Client) -> None:
        """Answer Home Assistant's birth message; return (by raising MqttError) when the
        connection drops."""
        async for message in client.messages:
            payload = message.payload
            if isinstance(payload, bytes | bytearray):
                payload = bytes(payload).decode("utf-8", "replace")
            if message.topic.matches(self._discovery.birth_topic) and payload == "online":
                log.info("mqtt.home_assistant_online", topic=self._discovery.birth_topic)
                self._say_state_again()

    async def _drain(self, client: aiomqtt.Client) -> None:
        """Send state first, then events in order; returns once stopping and flushed."""
        loop = asyncio.get_running_loop()
        while True:
            if self._stop_requested.is_set() and (self._flushed or loop.time() >= self._flush_deadline):
                return
            if self._pending or self._delivery.has_work:
                await self._send_next(client)
            else:
                self._wake.clear()
                await self._wake.wait()

    async def _send_next(self, client: aiomqtt.Client) -> None:
        """State first, then the oldest event. While stopping, no single publish may
        outlive the flush deadline: ``offline`` must still be said after it."""
        send = self._send_state if self._pending else self._delivery.send_event
        if not self._stop_requested.is_set():
            await send(client)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(self._flush_deadline):
                await send(client)

    @property
    def _flushed(self) -> bool:
        return not self._pending and self._delivery.flushed

    async def _send_state(self, client: aiomqtt.Client) -> None:
        topic, message = next(iter(self._pending.items()))
        if message.expired:
            self._counts["expired"] += 1
        elif self._poisoned(message):
            self._reject_state(message, f"connection lost during each of {POISON_ATTEMPTS} attempts")
        else:
            try:
                await self._send(client, message)
            except MessageRefused as exc:
                self._reject_state(message, str(exc))
        self._state_attempts.pop(topic, None)
        if self._pending.get(topic) is message:  # a newer value may have arrived meanwhile
            del self._pending[topic]

    def _reject_state(self, message: Message, why: str) -> None:
        self._counts["state_rejected"] += 1
        log.error("mqtt.state_rejected", topic=message.topic, size=len(message.payload), error=why)
        self._last_recognized = {cam: m for cam, m in self._last_recognized.items() if m is not message}

    def _poisoned(self, message: Message) -> bool:
        """True once the connection died during each of the last attempts to send it
        (a payload over the broker's maximum packet size): drop it, as events are set aside."""
        last, attempts = self._state_attempts.get(message.topic, (None, 0))
        attempts = attempts if last is message else 0
        self._state_attempts[message.topic] = (message, attempts + 1)
        return attempts >= POISON_ATTEMPTS

    async def _send(self, client: aiomqtt.Client, message: Message) -> None:
        await message.publish(client)
        self._counts["published"] += 1
