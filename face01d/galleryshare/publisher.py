"""The publishing side: one node's folder gallery, retained on the broker for every other node.

``publish_payload`` is the one way a version goes out: chunks first (QoS 1,
retained, under the payload's hash), the manifest last, then the previous
version's chunks are cleared (an empty retained message deletes one). The
version is one more than the manifest the broker held, which is read at
connect. ``GalleryPublisher`` keeps a daemon's gallery published across
reloads and reconnects; ``publish_once`` is ``face01d gallery publish``.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiomqtt
import structlog
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from face01d.config.models import GalleryConfig, MqttConfig
from face01d.errors import ExitCode, Face01dError
from face01d.gallery.model import Gallery
from face01d.galleryshare.ha import say_version
from face01d.galleryshare.link import GalleryLink, first_of
from face01d.galleryshare.manifest import (MAX_CHUNKS, GalleryTopics, Manifest, chunk_size, new_manifest, split)
from face01d.galleryshare.payload import PayloadError, Settings, digest, encode_payload
from face01d.galleryshare.requests import EditHandler, answer_request
from face01d.sinks.link import BrokerClient, MessageRefused, check_packet_size, reason

log = structlog.get_logger(__name__)

RETAINED_WAIT_S = 1.0  # at connect, how long the broker's retained manifest is waited for
IN_FLIGHT = 10  # chunks awaiting their PUBACK at once (aiomqtt warns beyond 10 pending publishes)
CHUNK_TYPE = "application/vnd.face01d.gallery-chunk"
MANIFEST_TYPE = "application/json"


class PublishFailed(Face01dError):
    """``face01d gallery publish``: the broker could not be reached, or refused a message (an ACL)."""

    exit_code = ExitCode.FAILURE


class Offer:
    """A gallery encoded for publishing: its payload, hash and counts."""

    def __init__(self, gallery: Gallery, root: Path) -> None:
        self.payload = encode_payload(gallery, root)
        self.sha256 = digest(self.payload)
        self.counts = (len(gallery.people), len(gallery))


def _content_type(kind: str) -> Properties:
    properties = Properties(PacketTypes.PUBLISH)
    properties.ContentType = kind
    return properties


async def publish_payload(client: BrokerClient, topics: GalleryTopics, offer: Offer, settings: Settings,
                          publisher: str, previous: Manifest | None) -> Manifest:
    """Publish ``offer`` as the version after ``previous``; ``previous`` itself when it holds the same payload."""
    if previous is not None and previous.sha256 == offer.sha256 and previous.settings == settings:
        return previous
    size = chunk_size(client.maximum_packet_size, topics.chunk(offer.sha256, MAX_CHUNKS))
    parts = split(offer.payload, size)
    manifest = new_manifest(offer.sha256, len(offer.payload), len(parts), settings, offer.counts, publisher, previous)
    manifest.check()  # what every subscriber would refuse is not sent
    chunks = [(topics.chunk(offer.sha256, index), part) for index, part in enumerate(parts)]
    await _publish_all(client, chunks, _content_type(CHUNK_TYPE))
    await _publish(client, topics.manifest, manifest.to_json(), _content_type(MANIFEST_TYPE))
    if previous is not None and previous.sha256 != offer.sha256:  # an empty retained message deletes one
        await _publish_all(client, [(topics.chunk(previous.sha256, index), b"") for index in range(previous.chunks)])
    log.info("gallery_share.published", version=manifest.version, sha256=manifest.sha256, size=manifest.size,
             chunks=manifest.chunks, chunk_bytes=size, people=manifest.people, encodings=manifest.encodings)
    return manifest


async def _publish_all(client: BrokerClient, messages: list[tuple[str, bytes]],
                       properties: Properties | None = None) -> None:
    """Retained, QoS 1, ``IN_FLIGHT`` at a time: one round trip per batch, not per chunk."""
    for start in range(0, len(messages), IN_FLIGHT):
        batch = messages[start:start + IN_FLIGHT]
        await asyncio.gather(*(_publish(client, topic, payload, properties) for topic, payload in batch))


async def _publish(client: BrokerClient, topic: str, payload: bytes, properties: Properties | None) -> None:
    check_packet_size(client, topic, payload)
    await client.publish(topic, payload, qos=1, retain=True, properties=properties)


async def broker_manifest(client: aiomqtt.Client, topics: GalleryTopics, timeout: float) -> Manifest | None:
    """Subscribe to the manifest and return the retained one, if the broker holds one."""
    await client.subscribe(topics.manifest, qos=1)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            async for message in client.messages:
                if (manifest := _manifest_of(message, topics)) is not None:
                    return manifest
    return None


def _manifest_of(message: aiomqtt.Message, topics: GalleryTopics) -> Manifest | None:
    if not message.topic.matches(topics.manifest) or not message.payload:
        return None
    try:
        return Manifest.from_json(bytes(message.payload))  # type: ignore[arg-type]
    except PayloadError as error:
        log.warning("gallery_share.manifest_ignored", topic=topics.manifest, error=str(error))
        return None


async def publish_once(mqtt: MqttConfig, node_id: str, config: GalleryConfig, gallery: Gallery) -> Manifest:
    """``face01d gallery publish``: one connection, one version (or none if the broker holds this one)."""
    link = GalleryLink(mqtt, f"face01d-{node_id}-gallery-publish")
    await link.prepare()
    offer = await asyncio.to_thread(Offer, gallery, Path(config.path))
    topics = GalleryTopics(mqtt.topic_prefix)
    try:
        async with link.client() as client:
            previous = await broker_manifest(client, topics, RETAINED_WAIT_S)
            return await publish_payload(client, topics, offer, Settings.of(config), node_id, previous)
    except (aiomqtt.MqttError, MessageRefused, PayloadError) as error:
        raise PublishFailed(f"gallery not published to {mqtt.host}:{mqtt.port}: {reason(error)}") from None


class GalleryPublisher:
    """Keeps the daemon's current gallery published: at every (re)connect, and after every reload."""

    def __init__(self, mqtt: MqttConfig, node_id: str, config: GalleryConfig) -> None:
        self._topics = GalleryTopics(mqtt.topic_prefix)
        self._link = GalleryLink(mqtt, f"face01d-{node_id}-gallery")
        self._mqtt = mqtt
        self._node_id = node_id
        self._config = config
        self._offer: Offer | None = None
        self._changed = asyncio.Event()
        self._encoding = asyncio.Lock()  # offers are encoded one at a time, in order: the last reload wins
        self._broker: Manifest | None = None  # the manifest the broker holds, as last seen
        self.published = 0
        self._task: asyncio.Task[None] | None = None
        self._handler: EditHandler | None = None  # enrollment requests of other nodes, when served
        self._requests: set[asyncio.Task[None]] = set()
        self.serving = asyncio.Event()  # set while subscribed to the requests (cleared on a lost connection)

    @property
    def manifest(self) -> Manifest | None:
        """The version on the broker when it is this node's gallery."""
        broker, offer = self._broker, self._offer
        return broker if broker is not None and offer is not None and broker.sha256 == offer.sha256 else None

    @property
    def stats(self) -> dict[str, object]:
        manifest = self.manifest
        return {"role": "publisher", "connected": self._link.connected, "published": self.published,
                "version": manifest.version if manifest else None, "sha256": manifest.sha256 if manifest else None}

    async def start(self) -> None:
        await self._link.prepare()
        self._task = asyncio.create_task(self._link.run(self._session), name="gallery-publisher")

    def serve_requests(self, handler: EditHandler) -> None:
        """Answer other nodes' enrollment requests with ``handler`` (from the next connection on)."""
        self._handler = handler

    async def offer(self, gallery: Gallery) -> None:
        """Publish ``gallery`` (encoded off the loop) as soon as the link allows."""
        async with self._encoding:
            self._offer = await asyncio.to_thread(Offer, gallery, Path(self._config.path))
        self._changed.set()

    async def stop(self, timeout: float) -> None:
        self._link.stop()
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=timeout)
        if self._handler is not None:
            self._handler.close()

    async def _session(self, client: BrokerClient) -> None:
        self._broker = await broker_manifest(client, self._topics, RETAINED_WAIT_S)
        if self._handler is not None:
            await client.subscribe(self._topics.requests, qos=1)
            self.serving.set()
        self._changed.set()  # say the current gallery again: the broker may have lost it
        try:
            await first_of(self._listen(client), self._publish_loop(client))
        finally:
            self.serving.clear()

    async def _listen(self, client: BrokerClient) -> None:
        """Follow the broker's manifest (another publisher, our own echo) for the next version number."""
        async for message in client.messages:
            if (manifest := _manifest_of(message, self._topics)) is not None:
                self._broker = manifest
            elif self._handler is not None and message.topic.matches(self._topics.requests):
                task = asyncio.create_task(answer_request(client, message, self._handler), name="gallery-request")
                self._requests.add(task)
                task.add_done_callback(self._request_done)

    def _request_done(self, task: asyncio.Task[None]) -> None:
        self._requests.discard(task)
        if not task.cancelled() and task.exception() is not None:  # its node waits for nothing: say it here
            log.error("gallery_share.request_failed", error=repr(task.exception()))

    async def _publish_loop(self, client: BrokerClient) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            if self._offer is not None:
                await self._publish(client, self._offer)

    async def _publish(self, client: BrokerClient, offer: Offer) -> None:
        """One version out; one that cannot be (too large, an ACL) is logged, the connection kept."""
        try:
            manifest = await publish_payload(client, self._topics, offer, Settings.of(self._config),
                                             self._node_id, self._broker)
        except (PayloadError, MessageRefused) as error:
            log.error("gallery_share.not_published", sha256=offer.sha256, error=str(error))
            return
        self.published += manifest is not self._broker
        self._broker = manifest
        await say_version(client, self._mqtt, self._node_id, manifest.version)
