"""Publisher and subscribers through a real mosquitto: identical galleries, chunking, refusals, timing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from face01d.galleryshare import subscriber as subscriber_module
from face01d.galleryshare.manifest import GalleryTopics, Manifest
from face01d.galleryshare.publisher import GalleryPublisher, publish_once
from face01d.galleryshare.payload import digest
from galleryshare.conftest import mqtt_for, wait_until, without

KIM = "金正恩"


async def test_a_subscriber_gets_the_published_gallery(mosquitto, mqtt_recorder, subscribers, face01_gallery,
                                                       face01_config, tmp_path: Path) -> None:
    mqtt = mqtt_for(mosquitto)
    recorder = mqtt_recorder(mosquitto, "face01test/gallery/#")
    manifest = await publish_once(mqtt, "a", face01_config, face01_gallery)
    subscriber = await subscribers(mqtt, tmp_path / "b")
    await wait_until(lambda: subscriber.latest is not None)
    copy = subscriber.latest
    assert copy.manifest == manifest and manifest.version == 1 and manifest.people == 3
    assert copy.gallery.names == face01_gallery.names
    assert np.array_equal(copy.gallery.encodings, face01_gallery.encodings)
    assert set(copy.gallery.display_images) == set(face01_gallery.people)
    late = mqtt_recorder(mosquitto, "face01test/gallery/manifest")  # what a node starting now is given
    (retained,) = await late.wait_for(lambda ms: ms)
    assert retained.retain and json.loads(retained.payload)["sha256"] == manifest.sha256
    chunks = [m for m in recorder.messages() if m.topic.startswith(f"face01test/gallery/{manifest.sha256}/")]
    assert digest(b"".join(m.payload for m in sorted(chunks, key=lambda m: int(m.topic.rsplit("/", 1)[1])))) \
        == manifest.sha256
    assert subscriber.store.path.is_file() and subscriber.stats["version"] == 1
    assert await publish_once(mqtt, "a", face01_config, face01_gallery) == manifest  # unchanged: no new version


async def test_chunks_fit_a_small_maximum_packet_size(small_packet_broker, mqtt_recorder, subscribers,
                                                      face01_gallery, face01_config, tmp_path: Path) -> None:
    mqtt = mqtt_for(small_packet_broker)
    recorder = mqtt_recorder(small_packet_broker, "face01test/gallery/#")
    manifest = await publish_once(mqtt, "a", face01_config, face01_gallery)
    assert manifest.chunks > 10
    subscriber = await subscribers(mqtt, tmp_path / "b")
    await wait_until(lambda: subscriber.latest is not None)
    assert np.array_equal(subscriber.latest.gallery.encodings, face01_gallery.encodings)
    chunks = recorder.wait_for_sync(lambda ms: sum(m.topic.count("/") == 3 and manifest.sha256 in m.topic
                                                   for m in ms) == manifest.chunks)
    assert max(len(m.payload) + len(m.topic) for m in chunks) < 1024
    assert "disconnected due to" not in small_packet_broker.log()  # no packet over the maximum


async def test_a_new_version_reaches_three_nodes_within_two_seconds(mosquitto, subscribers, face01_gallery,
                                                                    face01_config, tmp_path: Path) -> None:
    mqtt = mqtt_for(mosquitto)
    publisher = GalleryPublisher(mqtt, "a", face01_config)
    await publisher.start()
    try:
        await publisher.offer(face01_gallery)
        nodes = [await subscribers(mqtt, tmp_path / name, node=name) for name in ("b", "c", "d")]
        await wait_until(lambda: all(node.latest is not None for node in nodes))
        smaller = without(face01_gallery, KIM)
        took = await _offer_and_wait(publisher, smaller, nodes)
        print(f"\nnew version on three nodes after {took * 1000:.0f} ms")
        assert took < 2.0
        assert all(KIM not in node.latest.gallery.people and node.latest.manifest.version == 2 for node in nodes)
        assert publisher.stats["version"] == 2
    finally:
        await publisher.stop(5.0)


async def _offer_and_wait(publisher: GalleryPublisher, gallery, nodes) -> float:
    import time

    start = time.monotonic()
    await publisher.offer(gallery)
    await wait_until(lambda: all(KIM not in node.latest.gallery.people for node in nodes), timeout=10)
    return time.monotonic() - start


async def test_the_old_chunks_are_cleared(mosquitto, mqtt_recorder, face01_gallery, face01_config) -> None:
    mqtt = mqtt_for(mosquitto)
    first = await publish_once(mqtt, "a", face01_config, face01_gallery)
    second = await publish_once(mqtt, "a", face01_config, without(face01_gallery, KIM))
    assert second.version == 2
    late = mqtt_recorder(mosquitto, "face01test/gallery/#")  # sees only what is retained now
    await late.wait_for(lambda ms: sum(second.sha256 in m.topic for m in ms) == second.chunks)
    assert not [m for m in late.messages() if first.sha256 in m.topic]


async def test_a_node_starts_from_its_last_good_copy_while_the_broker_is_down(
        mosquitto, subscribers, face01_gallery, face01_config, tmp_path: Path) -> None:
    mqtt = mqtt_for(mosquitto)
    await publish_once(mqtt, "a", face01_config, face01_gallery)
    first = await subscribers(mqtt, tmp_path / "b")
    await wait_until(lambda: first.latest is not None)
    await first.stop(5.0)
    mosquitto.kill()
    again = await subscribers(mqtt, tmp_path / "b")
    copy = await again.load_last_good()
    assert copy is not None and copy.manifest == first.latest.manifest
    assert np.array_equal(copy.gallery.encodings, face01_gallery.encodings)
    assert all(path.is_file() for path in copy.gallery.display_images.values())
    assert again.stats["connected"] is False


async def test_a_corrupt_chunk_set_is_refused_and_the_old_gallery_kept(
        mosquitto, mqtt_recorder, subscribers, face01_gallery, face01_config, tmp_path: Path) -> None:
    mqtt = mqtt_for(mosquitto)
    good = await publish_once(mqtt, "a", face01_config, face01_gallery)
    subscriber = await subscribers(mqtt, tmp_path / "b")
    await wait_until(lambda: subscriber.latest is not None)
    forger = mqtt_recorder(mosquitto, "nothing/here")
    topics = GalleryTopics("face01test")
    fake = "0" * 64
    forger.publish(topics.chunk(fake, 0), b"x" * 100, retain=True)
    forger.publish(topics.manifest, _manifest_json(good, sha256=fake, size=100, chunks=1), retain=True)
    await wait_until(lambda: subscriber.counts["refused"] == 1)
    assert subscriber.latest.manifest == good and not _copy_is(subscriber, fake)
    better = await publish_once(mqtt, "a", face01_config, without(face01_gallery, KIM))  # and a good one still passes
    await wait_until(lambda: subscriber.latest.manifest.sha256 == better.sha256)


async def test_an_incomplete_chunk_set_is_refused(mosquitto, mqtt_recorder, subscribers, face01_gallery,
                                                  face01_config, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(subscriber_module, "ASSEMBLY_TIMEOUT_S", 0.5)
    mqtt = mqtt_for(mosquitto)
    good = await publish_once(mqtt, "a", face01_config, face01_gallery)
    subscriber = await subscribers(mqtt, tmp_path / "b")
    await wait_until(lambda: subscriber.latest is not None)
    forger = mqtt_recorder(mosquitto, "nothing/here")
    topics = GalleryTopics("face01test")
    fake = "1" * 64
    forger.publish(topics.chunk(fake, 0), b"x" * 100, retain=True)
    forger.publish(topics.manifest, _manifest_json(good, sha256=fake, size=300, chunks=3), retain=True)
    await wait_until(lambda: subscriber.counts["refused"] == 1)
    assert subscriber.latest.manifest == good


async def test_a_node_with_other_settings_refuses_the_gallery(mosquitto, subscribers, face01_gallery,
                                                              face01_config, tmp_path: Path) -> None:
    mqtt = mqtt_for(mosquitto)
    await publish_once(mqtt, "a", face01_config, face01_gallery)
    other = await subscribers(mqtt, tmp_path / "c", node="c", jitters=2)
    same = await subscribers(mqtt, tmp_path / "b", node="b")
    await wait_until(lambda: same.latest is not None and other.counts["refused"] == 1)
    assert other.latest is None and not other.store.path.exists()


def _manifest_json(base: Manifest, **changes: object) -> bytes:
    body = json.loads(base.to_json())
    body.update(changes, version=base.version + 1)
    return json.dumps(body).encode()


def _copy_is(subscriber, sha256: str) -> bool:
    return subscriber.store.path.read_bytes().split(b"\n", 1)[0].find(sha256.encode()) >= 0


async def test_the_version_a_node_runs_is_on_mqtt_and_in_home_assistant(
        mosquitto, mqtt_recorder, subscribers, face01_gallery, face01_config, tmp_path: Path) -> None:
    mqtt = mqtt_for(mosquitto)
    await publish_once(mqtt, "a", face01_config, face01_gallery)
    node = await subscribers(mqtt, tmp_path / "b", node="b")
    await wait_until(lambda: node.latest is not None)
    seen = mqtt_recorder(mosquitto, "#")
    await seen.wait_for(lambda ms: "face01test/b/gallery/version" in {m.topic for m in ms}
                        and "homeassistant/sensor/b/gallery_version/config" in {m.topic for m in ms})
    assert seen.payloads("face01test/b/gallery/version") == ["1"]
    (config,) = seen.payloads("homeassistant/sensor/b/gallery_version/config")
    assert json.loads(config)["state_topic"] == "face01test/b/gallery/version"
    await publish_once(mqtt, "a", face01_config, without(face01_gallery, KIM))
    await seen.wait_for(lambda ms: "2" in seen.payloads("face01test/b/gallery/version"))
