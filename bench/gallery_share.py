"""A gallery change reaching three nodes: publish → every subscriber has swapped in the new version.

    .venv/bin/python bench/gallery_share.py [--rounds 5]

A real mosquitto on a free loopback port, FACE01's gallery encoded once
(its cache in a temporary folder), three ``GallerySubscriber`` (the part of
a ``source = "broker"`` node that follows the broker) and ``publish_once``
(``face01d gallery publish``). Each round publishes the other version (the
gallery less 金正恩, then whole again) and times from the start of the
publish to the moment all three hold it, verified and decoded. Prints one
JSON object. Target: every round within 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from face01d.config.models import GalleryConfig, MqttConfig
from face01d.gallery.model import Gallery
from face01d.galleryshare.publisher import publish_once
from face01d.galleryshare.subscriber import GallerySubscriber
from face01d.recognition.recognizer import load_gallery
from remote_workers import DATA, cluster

KIM = "金正恩"
NODES = ("n1", "n2", "n3")
ROUND_TIMEOUT_S = 30.0


def without(gallery: Gallery, name: str) -> Gallery:
    """The gallery less one person: the second version."""
    rows = [i for i, person in enumerate(gallery.names) if person != name]
    return Gallery(encodings=gallery.encodings[rows], names=tuple(gallery.names[i] for i in rows),
                   paths=tuple(gallery.paths[i] for i in rows),
                   display_images={k: v for k, v in gallery.display_images.items() if k != name})


async def all_at(subscribers: list[GallerySubscriber], version: int) -> None:
    deadline = time.monotonic() + ROUND_TIMEOUT_S
    while any(s.version != version for s in subscribers):
        if time.monotonic() > deadline:
            raise SystemExit(f"version {version} not on every node after {ROUND_TIMEOUT_S:.0f} s")
        await asyncio.sleep(0.005)


async def measure(port: int, folder: Path, rounds: int) -> dict[str, object]:
    mqtt = MqttConfig(port=port, topic_prefix="bench")
    config = GalleryConfig(path=DATA / "face01/gallery", cache_dir=folder / "encoded")
    whole, _ = await asyncio.to_thread(load_gallery, config)
    versions = (whole, without(whole, KIM))
    subscribers = [GallerySubscriber(mqtt, node, GalleryConfig(path=config.path, cache_dir=folder / node))
                   for node in NODES]
    await asyncio.gather(*(s.start() for s in subscribers))
    try:
        times = []
        for turn in range(rounds + 1):  # the first publish (version 1) finds subscribers just connected: warm-up
            started = time.monotonic()
            manifest = await publish_once(mqtt, "bench", config, versions[turn % 2])
            await all_at(subscribers, manifest.version)
            times.append(time.monotonic() - started)
    finally:
        await asyncio.gather(*(s.stop(5.0) for s in subscribers))
    measured = times[1:]
    return {"nodes": len(NODES), "rounds": rounds, "seconds": [round(t, 3) for t in measured],
            "p50_s": round(statistics.median(measured), 3), "max_s": round(max(measured), 3),
            "people": len(whole.people), "target": "max_s <= 2"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="face01d-bench-gallery-") as name, cluster(Path(name), {}) as (port, _):
        result = asyncio.run(measure(port, Path(name), args.rounds))
    print(json.dumps({"load_average": [round(x, 2) for x in load], "cpus": os.cpu_count(), **result}))


if __name__ == "__main__":
    main()
