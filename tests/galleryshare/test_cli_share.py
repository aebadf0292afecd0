"""``face01d gallery publish``, and ``gallery remove`` and ``promote --group`` on a node whose gallery comes
from the broker."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

from click.testing import CliRunner

from face01d.cli import cli
from face01d.config.models import GalleryConfig, MqttConfig
from face01d.enrollment.groups import UnknownGroups
from face01d.galleryshare.publisher import GalleryPublisher
from face01d.galleryshare.requests import EditHandler
from face01d.recognition.recognizer import load_gallery
from galleryshare.conftest import mqtt_for, wait_until
from support.unknown_crops import keep_crop

KIM = "金正恩"


def write_config(path: Path, broker, gallery: str) -> Path:
    path.write_text(f'[daemon]\nnode_id = "{path.stem}"\n[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
                    f'topic_prefix = "face01test"\n[gallery]\n{gallery}\n', encoding="utf-8")
    return path


async def serving_publisher(mqtt: MqttConfig, config: GalleryConfig) -> GalleryPublisher:
    """Node "a" answering gallery edits for its folder, publishing each new version."""
    publisher = GalleryPublisher(mqtt, "a", config)

    async def reload() -> None:
        await publisher.offer((await asyncio.to_thread(load_gallery, config))[0])

    publisher.serve_requests(EditHandler(config, reload))
    await publisher.start()
    await asyncio.wait_for(publisher.serving.wait(), 10)
    return publisher


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


async def test_gallery_publish_then_a_remote_remove(mosquitto, subscribers, data, encoded_cache: Path,
                                                    tmp_path: Path) -> None:
    folder = tmp_path / "gallery"
    shutil.copytree(data.face01_gallery, folder)
    folder.chmod(0o755)
    a_toml = write_config(tmp_path / "a.toml", mosquitto, f'path = "{folder}"\ncache_dir = "{encoded_cache}"')
    published = await asyncio.to_thread(invoke, "gallery", "publish", "-c", str(a_toml))
    assert published.exit_code == 0, published.output
    assert json.loads(published.stdout.splitlines()[-1])["version"] == 1

    mqtt = mqtt_for(mosquitto)
    node = await subscribers(mqtt, tmp_path / "b")
    await wait_until(lambda: node.latest is not None and KIM in node.latest.gallery.people)
    config = GalleryConfig(path=folder, cache_dir=encoded_cache, publish=True)
    publisher = await serving_publisher(mqtt, config)
    try:
        b_toml = write_config(tmp_path / "b.toml", mosquitto, f'source = "broker"\ncache_dir = "{tmp_path / "b"}"')
        removed = await asyncio.to_thread(invoke, "gallery", "remove", KIM, "-c", str(b_toml))
        assert removed.exit_code == 0, removed.output
        assert f"publisher: {KIM}_default.png" in removed.stdout
        assert not list(folder.glob(f"{KIM}_*"))
        await wait_until(lambda: KIM not in node.latest.gallery.people)
        again = await asyncio.to_thread(invoke, "gallery", "remove", KIM, "-c", str(b_toml))
        assert again.exit_code == 5 and "not in the gallery" in again.output
    finally:
        await publisher.stop(5.0)


async def test_promote_group_on_a_broker_node_sends_each_crop_to_the_publisher(mosquitto, data, encoded_cache: Path,
                                                                               tmp_path: Path) -> None:
    """A group of two crops of one stranger, and a crop without a face in a group of its own."""
    folder = tmp_path / "gallery"
    shutil.copytree(data.face01_gallery, folder)
    folder.chmod(0o755)
    unknown = tmp_path / "b-unknown"
    photos = sorted(data("lfw_view1/images/Colin_Powell").glob("*.jpg"))[:2]
    for number, photo in enumerate(photos):
        keep_crop(unknown, photo, f"{number:032x}", time.time() - 60 + number)
    keep_crop(unknown, data("face01/images/invalid_face_image.png"), "f" * 32, time.time())
    groups = UnknownGroups(unknown, GalleryConfig(path=tmp_path / "none")).groups()
    powell = next(group for group in groups if group.size == 2)
    blank = next(group for group in groups if group.size == 1)
    publisher = await serving_publisher(mqtt_for(mosquitto), GalleryConfig(path=folder, cache_dir=encoded_cache,
                                                                           publish=True))
    try:
        b_toml = write_config(tmp_path / "b.toml", mosquitto, f'source = "broker"\ncache_dir = "{tmp_path / "b"}"')
        where = ("-c", str(b_toml), "--unknown-dir", str(unknown))
        promoted = await asyncio.to_thread(invoke, "gallery", "promote", "--group", powell.id, "Powell", *where)
        assert promoted.exit_code == 0, promoted.output
        written = ["Powell_default.jpg", "Powell_1.jpg", "Powell_2.jpg"]  # the first crop is the display photo too
        assert promoted.stdout.splitlines() == [f"publisher: {name}" for name in written]
        assert sorted(path.name for path in folder.glob("Powell_*")) == sorted(written)
        assert sorted(path.name for path in unknown.iterdir() if not path.name.startswith(".")) == [
            f"{'f' * 32}.jpg", f"{'f' * 32}.json"]  # the enrolled crops left the unknown folder
        refused = await asyncio.to_thread(invoke, "gallery", "promote", "--group", blank.id, "Nobody", *where)
        assert refused.exit_code == 4 and "no face" in refused.output and "no crop of group" in refused.output
        assert (unknown / f"{'f' * 32}.jpg").exists() and not list(folder.glob("Nobody*"))
    finally:
        await publisher.stop(5.0)
