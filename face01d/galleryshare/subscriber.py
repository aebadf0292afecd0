"""The receiving side: follow the retained manifest, gather its chunks, verify, keep, swap.

On a manifest with a new hash the subscriber subscribes to that hash's
chunks (retained: the broker sends them all at once), joins them, checks
SHA-256 and size, decodes, writes the last good copy to disk, and only then
hands the gallery to ``install``. Anything wrong (settings that differ from
this node's, a chunk set incomplete after ``ASSEMBLY_TIMEOUT_S``, a hash
that does not match, a payload that does not decode) is refused with a
reason in the log and a count in the stats: the running gallery stays.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiomqtt
import structlog

from face01d.config.models import GalleryConfig, MqttConfig
from face01d.galleryshare.ha import say_version
from face01d.galleryshare.link import GalleryLink, first_of
from face01d.galleryshare.manifest import GalleryTopics, Manifest
from face01d.galleryshare.payload import PayloadError, Settings
from face01d.galleryshare.store import LastGoodCopy, SharedCopy, store_dir
from face01d.sinks.link import BrokerClient

log = structlog.get_logger(__name__)

ASSEMBLY_TIMEOUT_S = 30.0  # a chunk set still incomplete after this is refused
DEADLINE_CHECK_S = 0.25

Install = Callable[[SharedCopy], None]


class Assembly:
    """The chunks of one manifest, as they arrive."""

    def __init__(self, manifest: Manifest, timeout: float) -> None:
        self.manifest = manifest
        self.deadline = time.monotonic() + timeout
        self._parts: dict[int, bytes] = {}
        self._bytes = 0

    def add(self, index: int, data: bytes) -> None:
        """Keep chunk ``index``; PayloadError for one that cannot belong to this manifest."""
        if not data:
            raise PayloadError(f"chunk {index} was withdrawn (a newer version replaced this one)")
        if index >= self.manifest.chunks:
            raise PayloadError(f"chunk {index} of a payload in {self.manifest.chunks} chunks")
        self._bytes += len(data) - len(self._parts.get(index, b""))
        self._parts[index] = data
        if self._bytes > self.manifest.size:
            raise PayloadError(f"chunks hold more than the manifest's {self.manifest.size} bytes")

    @property
    def complete(self) -> bool:
        return len(self._parts) == self.manifest.chunks

    @property
    def expired(self) -> bool:
        return time.monotonic() > self.deadline

    def payload(self) -> bytes:
        return b"".join(self._parts[index] for index in range(self.manifest.chunks))


class GallerySubscriber:
    """Keeps this node's gallery at the version the broker holds."""

    def __init__(self, mqtt: MqttConfig, node_id: str, config: GalleryConfig) -> None:
        self._topics = GalleryTopics(mqtt.topic_prefix)
        self._link = GalleryLink(mqtt, f"face01d-{node_id}-gallery")
        self._mqtt, self._node_id = mqtt, node_id
        self._settings = Settings.of(config)
        self.store = LastGoodCopy(store_dir(config))
        self.latest: SharedCopy | None = None  # the newest verified copy
        self.arrived = asyncio.Event()  # set by each new verified copy
        self._install: Install | None = None
        self._assembly: Assembly | None = None
        self._task: asyncio.Task[None] | None = None
        self.counts = {"received": 0, "refused": 0}

    @property
    def version(self) -> int | None:
        return self.latest.manifest.version if self.latest else None

    @property
    def stats(self) -> dict[str, object]:
        sha256 = self.latest.manifest.sha256 if self.latest else None
        return {"role": "subscriber", "connected": self._link.connected, **self.counts, "version": self.version,
                "sha256": sha256}

    async def load_last_good(self) -> SharedCopy | None:
        """The copy on disk (verified, settings checked) as ``latest``; None without a usable one."""
        copy = await asyncio.to_thread(self.store.load)
        if copy is not None and copy.manifest.settings != self._settings:
            log.error("gallery_share.copy_refused", reason=self._mismatch(copy.manifest), path=str(self.store.path))
            copy = None
        if copy is not None and self.latest is None:
            self.latest = copy
            log.info("gallery_share.last_good_copy", version=copy.manifest.version, people=len(copy.gallery.people))
        return copy

    async def start(self) -> None:
        await self._link.prepare()
        self._task = asyncio.create_task(self._link.run(self._session), name="gallery-subscriber")

    def attach(self, install: Install) -> None:
        """From now on each new version goes to ``install``."""
        self._install = install

    async def stop(self, timeout: float) -> None:
        self._link.stop()
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=timeout)

    async def _session(self, client: BrokerClient) -> None:
        self._assembly = None  # the manifest comes again, retained, with its chunks
        await client.subscribe(self._topics.manifest, qos=1)
        await say_version(client, self._mqtt, self._node_id, self.version)
        await first_of(self._listen(client), self._watch_deadline(client))

    async def _listen(self, client: BrokerClient) -> None:
        async for message in client.messages:
            payload = bytes(message.payload) if isinstance(message.payload, bytes | bytearray) else b""
            if message.topic.matches(self._topics.manifest):
                await self._on_manifest(client, payload)
            elif self._assembly is not None:
                await self._on_chunk(client, str(message.topic), payload)

    async def _on_manifest(self, client: aiomqtt.Client, data: bytes) -> None:
        if not data:
            return  # the gallery was withdrawn from the broker: keep the one we run
        try:
            manifest = Manifest.from_json(data)
            if manifest.settings != self._settings:
                raise PayloadError(self._mismatch(manifest))
        except PayloadError as error:
            return self._refuse(None, str(error))
        if self.latest is not None and self.latest.manifest.sha256 == manifest.sha256:
            return None
        await self._drop_assembly(client)
        self._assembly = Assembly(manifest, ASSEMBLY_TIMEOUT_S)
        await client.subscribe(self._topics.chunks(manifest.sha256), qos=1)

    async def _on_chunk(self, client: aiomqtt.Client, topic: str, data: bytes) -> None:
        assembly = self._assembly
        assert assembly is not None
        index = self._topics.chunk_index(assembly.manifest.sha256, topic)
        if index is None:
            return  # a late chunk of an abandoned version
        try:
            assembly.add(index, data)
        except PayloadError as error:
            await self._drop_assembly(client)
            return self._refuse(assembly.manifest, str(error))
        if assembly.complete:
            await self._drop_assembly(client)
            await self._accept(assembly.manifest, assembly.payload())
            await say_version(client, self._mqtt, self._node_id, self.version)

    async def _accept(self, manifest: Manifest, payload: bytes) -> None:
        """Verify and decode, keep on disk, then install."""
        try:
            copy = await asyncio.to_thread(self.store.open, manifest, payload)
        except PayloadError as error:
            return self._refuse(manifest, str(error))
        try:
            await asyncio.to_thread(self.store.save, manifest, payload)
        except OSError as error:  # the gallery is good; only a start without the broker would miss it
            log.error("gallery_share.copy_not_written", path=str(self.store.path), error=str(error))
        self.latest = copy
        self.counts["received"] += 1
        log.info("gallery_share.received", version=manifest.version, sha256=manifest.sha256,
                 people=len(copy.gallery.people), encodings=len(copy.gallery), publisher=manifest.publisher)
        self.arrived.set()
        if self._install is not None:
            self._install(copy)

    async def _watch_deadline(self, client: aiomqtt.Client) -> None:
        while True:
            await asyncio.sleep(DEADLINE_CHECK_S)
            assembly = self._assembly
            if assembly is not None and assembly.expired:
                await self._drop_assembly(client)
                self._refuse(assembly.manifest, f"chunk set incomplete after {ASSEMBLY_TIMEOUT_S} s")

    async def _drop_assembly(self, client: aiomqtt.Client) -> None:
        assembly, self._assembly = self._assembly, None
        if assembly is not None:
            await client.unsubscribe(self._topics.chunks(assembly.manifest.sha256))

    def _refuse(self, manifest: Manifest | None, why: str) -> None:
        self.counts["refused"] += 1
        log.error("gallery_share.refused", reason=why, version=manifest.version if manifest else None,
                  sha256=manifest.sha256 if manifest else None,
                  running=self.latest.manifest.version if self.latest else None)

    def _mismatch(self, manifest: Manifest) -> str:
        return (f"encoding settings differ: the gallery was encoded with {manifest.settings.as_dict()}, "
                f"this node encodes with {self._settings.as_dict()} ([gallery] landmarks and jitters)")
