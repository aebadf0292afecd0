"""Real daemons sharing one gallery through a real mosquitto: the publisher's folder edit reaches a
running subscriber without a restart, and a subscriber starts from its last good copy with the broker down."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import httpx

from face01d.app import Daemon
from face01d.config.models import (Config, DaemonConfig, EnrollmentConfig, GalleryConfig, HttpConfig, MqttConfig,
                                   SnapshotConfig, WorkersConfig)
from face01d.enrollment.gallery_edit import remove_person
from face01d.galleryshare.publisher import publish_once
from face01d.web.actions import enroll_group
from galleryshare.conftest import mqtt_for, wait_until, without
from support.unknown_crops import keep_crop

KIM = "金正恩"


def node_config(tmp_path: Path, node: str, mqtt: MqttConfig, gallery: GalleryConfig) -> Config:
    return Config(daemon=DaemonConfig(node_id=node, lock_file=tmp_path / f"{node}.lock"), gallery=gallery,
                  workers=WorkersConfig(detect="thread", encode="thread", threads=1),
                  mqtt=mqtt.model_copy(update={"outbox_path": tmp_path / f"{node}-outbox.sqlite3"}),
                  snapshots=SnapshotConfig(enabled=False), http=HttpConfig(enabled=False, stats_interval_s=0),
                  enrollment=EnrollmentConfig(keep_unknown=False))


async def started(config: Config) -> tuple[Daemon, asyncio.Task[int]]:
    daemon = Daemon(config, None, once=False, stdout_events=False)
    run = asyncio.create_task(daemon.run())
    await wait_until(lambda: run.done() or daemon.recognizer is not None, timeout=120)
    assert not run.done(), "the daemon ended during start-up"
    return daemon, run


async def stopped(daemon: Daemon, run: asyncio.Task[int]) -> None:
    daemon.request_stop("test")
    assert await asyncio.wait_for(run, 60) == 0


def publisher_and_follower(mosquitto, data, encoded_cache: Path, tmp_path: Path) -> tuple[Path, Config, Config]:
    """A writable copy of FACE01's gallery, node "a" publishing it and node "b" following the broker's."""
    mqtt = mqtt_for(mosquitto)
    folder = tmp_path / "gallery"
    shutil.copytree(data.face01_gallery, folder)
    folder.chmod(0o755)
    publisher = node_config(tmp_path, "a", mqtt, GalleryConfig(path=folder, cache_dir=encoded_cache, publish=True))
    follower = node_config(tmp_path, "b", mqtt, GalleryConfig(cache_dir=tmp_path / "b-cache", source="broker"))
    return folder, publisher, follower


async def test_a_folder_edit_on_the_publisher_reaches_a_running_node(mosquitto, face01_gallery, data,
                                                                     encoded_cache: Path, tmp_path: Path) -> None:
    folder, publisher, follower = publisher_and_follower(mosquitto, data, encoded_cache, tmp_path)
    a, run_a = await started(publisher)
    try:
        b, run_b = await started(follower)  # waits for the broker's gallery: it has no last good copy
        try:
            assert b.recognizer.gallery.people == face01_gallery.people
            await asyncio.sleep(0.4)  # the publisher's watch is up
            start = time.monotonic()
            await asyncio.to_thread(remove_person, publisher.gallery, KIM)
            await wait_until(lambda: KIM not in b.recognizer.gallery.people, timeout=30)
            print(f"\nfolder edit on the publisher → swapped on the node after {time.monotonic() - start:.2f} s")
            assert b.figures().gallery_share["version"] == 2 == a.figures().gallery_share["version"]
        finally:
            await stopped(b, run_b)
    finally:
        await stopped(a, run_a)


async def test_a_node_swaps_versions_and_restarts_from_its_copy_with_the_broker_down(
        mosquitto, face01_gallery, face01_config, tmp_path: Path) -> None:
    mqtt = mqtt_for(mosquitto)
    await publish_once(mqtt, "a", face01_config, face01_gallery)
    config = node_config(tmp_path, "b", mqtt, GalleryConfig(cache_dir=tmp_path / "b-cache", source="broker"))
    daemon, run = await started(config)
    try:
        assert KIM in daemon.recognizer.gallery.people
        start = time.monotonic()
        await publish_once(mqtt, "a", face01_config, without(face01_gallery, KIM))
        took = await wait_until(lambda: KIM not in daemon.recognizer.gallery.people)
        print(f"\npublished → swapped in a running daemon after {(time.monotonic() - start) * 1000:.0f} ms")
        assert took < 2.0
        assert daemon.metrics.payload()["gallery"]["version"] == 2
        assert b"face01d_gallery_version 2.0" in daemon.metrics.exposition()
    finally:
        await stopped(daemon, run)
    mosquitto.kill()
    daemon, run = await started(config)  # the broker is down: the last good copy, version 2
    try:
        assert daemon.recognizer.gallery.people == without(face01_gallery, KIM).people
        assert daemon.figures().gallery_share["version"] == 2
    finally:
        await stopped(daemon, run)


async def test_enrollment_on_a_node_reaches_the_publisher_and_comes_back(
        mosquitto, data, encoded_cache: Path, tmp_path: Path) -> None:
    folder, publisher, follower = publisher_and_follower(mosquitto, data, encoded_cache, tmp_path)
    follower = follower.model_copy(update={"http": HttpConfig(enabled=True, port=0, token="t", stats_interval_s=0)})
    a, run_a = await started(publisher)
    b, run_b = await started(follower)
    try:
        obama = data("face_recognition/test_images/obama.jpg").read_bytes()
        base = f"http://127.0.0.1:{b.http_port}"
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": "Bearer t"}, timeout=120) as client:
            start = time.monotonic()
            added = await client.post("/gallery/obama", content=obama, headers={"Content-Type": "image/jpeg"})
            print(f"\nPOST /gallery/obama on node b answered after {time.monotonic() - start:.2f} s")
            assert added.status_code == 201, added.text
            assert "obama" in b.recognizer.gallery.people  # the answer came after the swap
            assert any(path.name.startswith("obama_") for path in folder.iterdir())  # in the publisher's folder
            no_face = data("face01/images/invalid_face_image.png").read_bytes()
            refused = await client.post("/gallery/nobody", content=no_face, headers={"Content-Type": "image/png"})
            assert refused.status_code == 422, refused.text
            removed = await client.delete("/gallery/obama")
            assert removed.status_code == 200, removed.text
            assert "obama" not in b.recognizer.gallery.people
            assert (await client.delete("/gallery/obama")).status_code == 404
    finally:
        await stopped(b, run_b)
        await stopped(a, run_a)


async def test_this_is_on_a_node_enrolls_a_stranger_through_the_publisher(
        mosquitto, data, encoded_cache: Path, tmp_path: Path) -> None:
    """The page's "This is …" on a node following the broker's gallery: the crops go to the publisher's
    folder (never a folder of the node's own), the node runs the new version when it answers, and the crop
    that holds no face is refused with the publisher's reason and stays."""
    folder, publisher, follower = publisher_and_follower(mosquitto, data, encoded_cache, tmp_path)
    unknown = tmp_path / "b-unknown"
    keep_crop(unknown, data("face_recognition/test_images/obama.jpg"), "a" * 32, time.time() - 60)
    keep_crop(unknown, data("face01/images/invalid_face_image.png"), "b" * 32, time.time() - 30)
    follower = follower.model_copy(update={
        "http": HttpConfig(enabled=True, port=0, token="t", stats_interval_s=0),
        "enrollment": EnrollmentConfig(keep_unknown=True, unknown_dir=unknown)})
    a, run_a = await started(publisher)
    b, run_b = await started(follower)
    try:
        page = b.web_page
        assert page is not None and page.unknown is not None
        groups = await page.unknown.async_groups()
        group = next(group for group in groups if "a" * 32 in {crop.event_id for crop in group.crops})
        blank = next(group for group in groups if "b" * 32 in {crop.event_id for crop in group.crops})
        said = await enroll_group(page, group.id, "obama", ["a" * 32])
        assert said == "Enrolled 1 face(s) as obama.", said
        assert "obama" in b.recognizer.gallery.people  # the answer came after the swap
        assert any(path.name.startswith("obama_") for path in folder.iterdir())  # in the publisher's folder
        assert not (unknown / f"{'a' * 32}.jpg").exists() and not (unknown / f"{'a' * 32}.json").exists()
        refused = await enroll_group(page, blank.id, "nobody", ["b" * 32])
        assert refused.startswith("Enrolled 0 face(s) as nobody. Refused: bbbbbbbb:") and "face" in refused, refused
        assert (unknown / f"{'b' * 32}.jpg").exists()  # kept, to be named another day
        assert not any(path.name.startswith("nobody") for path in folder.iterdir())
    finally:
        await stopped(b, run_b)
        await stopped(a, run_a)
