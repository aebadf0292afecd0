"""The ACL lines for a shared gallery (the report's "ACL" section) are enough, and only the publisher writes it.

A real mosquitto with a password file and an ``acl_file``: the publisher
account publishes and answers a node's request, a node account receives the
gallery and asks, and the same node account trying to publish a gallery of
its own is refused by the broker (PUBACK 0x87), not silently taken.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from face01d.config.models import GalleryConfig, MqttConfig
from face01d.galleryshare.publisher import GalleryPublisher, PublishFailed, publish_once
from face01d.galleryshare.requests import EditHandler, send_request
from face01d.recognition.recognizer import load_gallery
from galleryshare.conftest import wait_until, without

KIM = "金正恩"
PASSWORD = "g4llery-Share"
GALLERY_ACL = """\
# The one publisher: writes the gallery, reads the requests, answers them.
user publisher
topic readwrite face01test/gallery/#
topic read face01test/gallery-requests
topic write face01test/gallery-responses/#

# Every node (one account per node, named after its node_id): reads the gallery,
# asks the publisher, reads its own answers; its own topics as before.
pattern read face01test/gallery/#
pattern write face01test/gallery-requests
pattern read face01test/gallery-responses/%u/#
pattern write face01test/%u/#
pattern write homeassistant/+/%u/#
"""


def account(broker, user: str) -> MqttConfig:
    return MqttConfig(host=broker.host, port=broker.port, topic_prefix="face01test", username=user,
                      password=PASSWORD)


async def test_only_the_publisher_writes_the_gallery(mosquitto_acl, subscribers, face01_gallery, data,
                                                     encoded_cache: Path, tmp_path: Path) -> None:
    broker = mosquitto_acl(GALLERY_ACL, users={"publisher": PASSWORD, "b": PASSWORD})
    publisher_mqtt, node_mqtt = account(broker, "publisher"), account(broker, "b")
    folder = tmp_path / "gallery"
    shutil.copytree(data.face01_gallery, folder)
    folder.chmod(0o755)
    config = GalleryConfig(path=folder, cache_dir=encoded_cache, publish=True)
    publisher = GalleryPublisher(publisher_mqtt, "publisher", config)

    async def reload() -> None:
        await publisher.offer((await asyncio.to_thread(load_gallery, config))[0])

    publisher.serve_requests(EditHandler(config, reload))
    await publisher.start()
    try:
        await publisher.offer(face01_gallery)
        await asyncio.wait_for(publisher.serving.wait(), 10)
        node = await subscribers(node_mqtt, tmp_path / "b", node="b")
        await wait_until(lambda: node.latest is not None)
        with pytest.raises(PublishFailed, match="0x87"):
            await publish_once(node_mqtt, "b", config, without(face01_gallery, KIM))
        assert (await send_request(node_mqtt, "b", "remove", KIM))["status"] == 200
        await wait_until(lambda: KIM not in node.latest.gallery.people)
    finally:
        await publisher.stop(5.0)
    denied = [line for line in broker.log().splitlines() if "Denied" in line]
    assert denied and all("from face01d-b-gallery-publish " in line for line in denied), denied  # b's forgery only
