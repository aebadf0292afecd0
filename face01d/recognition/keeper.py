"""The daemon's gallery: loaded off the loop, reloaded on SIGHUP one at a time.

Encoding a gallery can take minutes (dlib's CNN fallback costs ~2 s per
tight crop), so it runs on a thread of its own: the vision pool keeps
analysing frames during a reload, and a reload's models (HOG at full
resolution, the CNN) stay on that one thread. Reload requests that arrive
while one runs are coalesced into a single follow-up, so the newest files
always win and two builds never compete for the CPU.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from face01d.config.models import GalleryConfig
from face01d.daemon_executor import DaemonThreadExecutor
from face01d.gallery.layout import HARMLESS_SKIPS
from face01d.gallery.model import Gallery, GalleryReport
from face01d.recognition.recognizer import load_gallery

log = structlog.get_logger(__name__)

Progress = Callable[[int, int], None]


class GalleryKeeper:
    def __init__(self, config: GalleryConfig, progress: Progress | None = None) -> None:
        self._config = config
        self._progress = progress
        self._executor = DaemonThreadExecutor("face01d-gallery")  # a read stuck on a hung mount never holds the exit
        self._lock = asyncio.Lock()
        self._again = False

    async def load(self) -> Gallery:
        """Build (or read from cache) the gallery; GalleryError when nothing is usable."""
        loop = asyncio.get_running_loop()
        gallery, report = await loop.run_in_executor(self._executor, load_gallery, self._config, self._progress)
        _log_loaded(self._config, gallery, report)
        return gallery

    async def reload(self, install: Callable[[Gallery], None]) -> None:
        """Load again and ``install`` the result; a broken edit keeps the old gallery."""
        if self._lock.locked():
            self._again = True  # the running reload will go round once more
            return
        async with self._lock:
            self._again = True
            while self._again:
                self._again = False
                await self._reload_once(install)

    async def _reload_once(self, install: Callable[[Gallery], None]) -> None:
        try:
            install(await self.load())
        except Exception as error:  # a broken gallery edit must not take the daemon down
            log.error("gallery reload failed, keeping the old gallery", error=str(error))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _log_loaded(config: GalleryConfig, gallery: Gallery, report: GalleryReport) -> None:
    """One summary line; each left-out image and each skipped file was already
    logged by the builder (a warning with the path and the reason)."""
    skipped = [str(path) for path, why in report.skipped if why not in HARMLESS_SKIPS]
    log.info("gallery loaded", path=str(config.path), people=len(gallery.people), encodings=len(gallery),
             encoded_now=len(report.encoded_now), left_out=report.left_out, skipped=skipped)
