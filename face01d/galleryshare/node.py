"""What the daemon asks of the shared gallery: the first gallery, a swap per version, the figures.

``[gallery] publish = true``: the folder gallery is loaded as always, and
each gallery the daemon installs (at start, after every reload) is offered
to the publisher. ``[gallery] source = "broker"``: the first gallery is the
last good copy on disk when there is one (a start while the broker is down),
else the broker's, waited for; every later version is swapped in through
the daemon's own ``install``, as a folder reload is.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable

import structlog

from face01d.config.models import Config
from face01d.errors import GalleryError
from face01d.gallery.model import Gallery
from face01d.galleryshare.enroll import RemoteEnrollmentApi
from face01d.galleryshare.publisher import GalleryPublisher
from face01d.galleryshare.requests import EditHandler
from face01d.galleryshare.store import SharedCopy
from face01d.galleryshare.subscriber import GallerySubscriber

log = structlog.get_logger(__name__)

WAITING_LOG_S = 30.0  # without any copy, "still waiting for the broker's gallery" this often


class GalleryShare:
    """The daemon's publisher or subscriber (never both: one node publishes, the others follow)."""

    def __init__(self, config: Config) -> None:
        gallery, mqtt, node = config.gallery, config.mqtt, config.daemon.node_id
        self.is_source = gallery.source == "broker"
        self._config = gallery
        self.remote_enrollment = functools.partial(RemoteEnrollmentApi, mqtt, node)  # EnrollmentApi's signature
        self._publisher = GalleryPublisher(mqtt, node, gallery) if gallery.publish else None
        self._subscriber = GallerySubscriber(mqtt, node, gallery) if self.is_source else None
        self._offers: set[asyncio.Task[None]] = set()
        self._running: SharedCopy | None = None

    @classmethod
    def from_config(cls, config: Config) -> GalleryShare | None:
        return cls(config) if config.gallery.publish or config.gallery.source == "broker" else None

    @property
    def version(self) -> int | None:
        """The version this node runs (subscriber) or has on the broker (publisher)."""
        if self._subscriber is not None:
            return self._running.manifest.version if self._running else None
        manifest = self._publisher.manifest if self._publisher else None
        return manifest.version if manifest else None

    @property
    def stats(self) -> dict[str, object]:
        part = self._subscriber or self._publisher
        return {**(part.stats if part else {}), "version": self.version}

    async def first_gallery(self, stopping: asyncio.Event) -> Gallery:
        """source = "broker": the last good copy, else the broker's first version (GalleryError if stopped)."""
        subscriber = self._subscriber
        assert subscriber is not None
        copy = await subscriber.load_last_good()  # before the link: a newer version then replaces it, never the reverse
        await subscriber.start()
        if copy is None:
            await self._wait_for_broker(subscriber, stopping)
        assert subscriber.latest is not None
        self._running = subscriber.latest
        return subscriber.latest.gallery

    async def _wait_for_broker(self, subscriber: GallerySubscriber, stopping: asyncio.Event) -> None:
        log.info("gallery_share.waiting", reason="no last good copy: waiting for the broker's gallery",
                    path=str(subscriber.store.path))
        while subscriber.latest is None and not stopping.is_set():
            waits = [asyncio.create_task(subscriber.arrived.wait()), asyncio.create_task(stopping.wait())]
            await asyncio.wait(waits, timeout=WAITING_LOG_S, return_when=asyncio.FIRST_COMPLETED)
            for task in waits:
                task.cancel()
            if subscriber.latest is None and not stopping.is_set():
                log.warning("gallery_share.still_waiting", broker_connected=subscriber.stats["connected"])
        if subscriber.latest is None:
            raise GalleryError("stopped before the broker's gallery arrived")

    async def start(self, install: Callable[[Gallery], None], gallery: Gallery,
                    reload: Callable[[], Awaitable[None]]) -> None:
        """Wire ``install`` for new versions; a publisher publishes ``gallery`` and applies other
        nodes' enrollment requests to its folder, then ``reload``s."""
        if self._subscriber is not None:
            self._subscriber.attach(lambda copy: self._swap(install, copy))
            if self._subscriber.latest is not self._running and self._subscriber.latest is not None:
                self._swap(install, self._subscriber.latest)  # arrived while the daemon was starting
        if self._publisher is not None:
            self._publisher.serve_requests(EditHandler(self._config, reload))
            await self._publisher.start()
            self.installed(gallery)

    def _swap(self, install: Callable[[Gallery], None], copy: SharedCopy) -> None:
        install(copy.gallery)
        self._running = copy
        log.info("gallery_share.swapped", version=copy.manifest.version, people=len(copy.gallery.people))

    def installed(self, gallery: Gallery) -> None:
        """The daemon installed ``gallery``: a publisher publishes it (encoded off the loop)."""
        if self._publisher is None:
            return
        task = asyncio.create_task(self._publisher.offer(gallery), name="gallery-offer")
        self._offers.add(task)
        task.add_done_callback(self._offers.discard)

    async def stop(self, timeout: float) -> None:
        await asyncio.gather(*self._offers, return_exceptions=True)
        for part in (self._publisher, self._subscriber):
            if part is not None:
                await part.stop(timeout)
