"""A gallery encoded once per session, brokers with a small maximum packet size, and subscriber helpers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from face01d.config.models import GalleryConfig, MqttConfig
from face01d.gallery.model import Gallery
from face01d.galleryshare.subscriber import GallerySubscriber
from face01d.recognition.recognizer import load_gallery
from support.broker import Mosquitto


@dataclass
class LimitedMosquitto(Mosquitto):
    """A mosquitto announcing ``max_packet_size`` in its CONNACK (and enforcing it)."""

    max_packet_size: int = 0

    def _write_conf(self) -> None:
        super()._write_conf()
        with self.conf.open("a") as conf:
            conf.write(f"max_packet_size {self.max_packet_size}\n")


@pytest.fixture
def small_packet_broker(tmp_path: Path) -> Iterator[LimitedMosquitto]:
    workdir = tmp_path / "mosquitto-small"
    workdir.mkdir()
    broker = LimitedMosquitto(workdir, max_packet_size=1024)
    broker.start()
    yield broker
    broker.kill()


@pytest.fixture(scope="session")
def encoded_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One encoding cache for the session: each test's gallery copy is read from it, not re-encoded."""
    return tmp_path_factory.mktemp("encodings")


@pytest.fixture(scope="session")
def face01_config(data, encoded_cache: Path) -> GalleryConfig:
    return GalleryConfig(path=data.face01_gallery, cache_dir=encoded_cache)


@pytest.fixture(scope="session")
def face01_gallery(face01_config: GalleryConfig) -> Gallery:
    """FACE01's gallery (三 people, Japanese names), encoded as a daemon would."""
    gallery, _ = load_gallery(face01_config)
    return gallery


def without(gallery: Gallery, name: str) -> Gallery:
    """The gallery less one person: a second version."""
    rows = [i for i, person in enumerate(gallery.names) if person != name]
    return Gallery(encodings=gallery.encodings[rows], names=tuple(gallery.names[i] for i in rows),
                   paths=tuple(gallery.paths[i] for i in rows),
                   display_images={k: v for k, v in gallery.display_images.items() if k != name})


def mqtt_for(broker: Mosquitto) -> MqttConfig:
    return MqttConfig(host=broker.host, port=broker.port, topic_prefix="face01test")


async def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> float:
    """Poll ``condition``; the seconds it took (AssertionError after ``timeout``)."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.005)
    return time.monotonic() - start


@pytest.fixture
async def subscribers() -> "Iterator[Callable[..., GallerySubscriber]]":
    """Factory: ``subscriber(mqtt, cache_dir, node="b", **gallery)`` → a started subscriber, stopped at teardown."""
    started: list[GallerySubscriber] = []

    async def make(mqtt: MqttConfig, cache_dir: Path, node: str = "b", **gallery: object) -> GallerySubscriber:
        config = GalleryConfig(path=cache_dir / "unused", cache_dir=cache_dir, source="broker", **gallery)
        subscriber = GallerySubscriber(mqtt, node, config)
        await subscriber.start()
        started.append(subscriber)
        return subscriber

    yield make
    for subscriber in started:
        await subscriber.stop(5.0)
