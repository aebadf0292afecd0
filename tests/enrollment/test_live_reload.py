"""The pieces as the daemon joins them: a watched gallery, GalleryKeeper's reload, a Recognizer.

``gallery add`` and ``gallery remove`` on a real gallery copy; the watcher
sees the files, the keeper re-encodes only what is new, and the recognizer
names (or no longer names) the person: no restart, no SIGHUP.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from face01d.config.models import DetectorConfig, GalleryConfig
from face01d.enrollment.gallery_edit import add_images, remove_person
from face01d.gallery.model import Gallery
from face01d.gallery.watch import watch_gallery
from face01d.recognition.keeper import GalleryKeeper
from face01d.recognition.recognizer import Recognizer
from face01d.vision.image import load_image

RELOAD_TIMEOUT_S = 60


async def test_add_and_remove_reach_a_running_recognizer(gallery_copy: Path, data) -> None:
    config = GalleryConfig(path=gallery_copy)
    keeper = GalleryKeeper(config)
    recognizer = Recognizer(DetectorConfig(), config, await keeper.load())
    installed = asyncio.Event()
    reloads: set[asyncio.Task[None]] = set()

    def install(gallery: Gallery) -> None:
        recognizer.replace_gallery(gallery)
        installed.set()

    def request_reload() -> None:  # what Daemon.request_reload does: a task, coalesced by the keeper
        task = asyncio.get_running_loop().create_task(keeper.reload(install))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_gallery(gallery_copy, request_reload, stop))
    await asyncio.sleep(0.4)
    try:
        await asyncio.to_thread(add_images, config, "obama", [data("face_recognition/test_images/obama.jpg")])
        await asyncio.wait_for(installed.wait(), RELOAD_TIMEOUT_S)
        assert "obama" in recognizer.gallery.people
        probe = load_image(data("face_recognition/test_images/obama2.jpg"))
        assert [s.name for s in await asyncio.to_thread(recognizer.recognize, probe, "rgb")] == ["obama"]

        await asyncio.sleep(0.5)  # a late burst of the add, if any, is reloaded before the remove
        await asyncio.gather(*reloads)
        installed.clear()
        await asyncio.to_thread(remove_person, config, "obama")
        await asyncio.wait_for(installed.wait(), RELOAD_TIMEOUT_S)
        assert "obama" not in recognizer.gallery.people
    finally:
        stop.set()
        await asyncio.wait_for(watcher, 5)
        await asyncio.gather(*reloads)
        keeper.close()
