"""``face01d gallery publish``, and ``gallery remove`` on a node whose gallery comes from the broker."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from face01d.cli import cli
from face01d.config.models import GalleryConfig
from face01d.galleryshare.publisher import GalleryPublisher
from face01d.galleryshare.requests import EditHandler
from face01d.recognition.recognizer import load_gallery
from galleryshare.conftest import mqtt_for, wait_until

KIM = "金正恩"


def write_config(path: Path, broker, gallery: str) -> Path:
    path.write_text(f'[daemon]\nnode_id = "{path.stem}"\n[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
                    f'topic_prefix = "face01test"\n[gallery]\n{gallery}\n', encoding="utf-8")
    return path


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
    publisher = GalleryPublisher(mqtt, "a", config)

    async def reload() -> None:
        await publisher.offer((await asyncio.to_thread(load_gallery, config))[0])

    publisher.serve_requests(EditHandler(config, reload))
    await publisher.start()
    await asyncio.wait_for(publisher.serving.wait(), 10)
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
