"""UnknownCrops for real: events with a real frame, files on disk, pruning by count and age."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from pathlib import Path

import cv2
import pytest

from face01d.config.models import Config
from face01d.enrollment.unknown import UnknownCrops, prune_unknown, unknown_dir
from face01d.events.model import Event, EventType
from face01d.faces import FaceBox, Frame
from face01d.sinks.outbox import default_outbox_path

OBAMA_BOX = FaceBox(142, 617, 409, 349)  # face_recognition's documented box for obama.jpg


@pytest.fixture
def frame(data) -> Frame:
    image = cv2.imread(str(data("face_recognition/test_images/obama.jpg")))
    return Frame(camera="door", index=7, image=image, captured_at=time.time())


def unknown_event(kind: EventType = EventType.UNKNOWN, box: FaceBox | None = OBAMA_BOX) -> Event:
    return Event(type=kind, node="node", camera="door", name="Unknown", captured_at=time.time(), box=box,
                 track_id="door-42", distance=0.71, percentage=80.0)


async def test_unknown_event_keeps_crop_and_record(tmp_path: Path, frame: Frame) -> None:
    folder = tmp_path / "state" / "unknown"
    sink = UnknownCrops(folder, max_files=10, retention_days=30)
    await sink.start()
    event = unknown_event()
    sink.publish_event(event, frame)
    sink.publish_event(unknown_event(EventType.RECOGNIZED), frame)  # not a stranger: ignored
    sink.publish_event(unknown_event(), None)  # no frame: nothing to crop
    sink.publish_event(unknown_event(box=None), frame)
    await sink.stop(5)
    assert sorted(p.name for p in folder.iterdir()) == [f"{event.id}.jpg", f"{event.id}.json"]
    record = json.loads((folder / f"{event.id}.json").read_text())
    assert record["id"] == event.id and record["track_id"] == "door-42" and record["camera"] == "door"
    assert record["box"] == OBAMA_BOX.as_dict() and record["captured_at"].endswith("Z")
    crop = cv2.imread(str(folder / f"{event.id}.jpg"))
    assert crop.shape[0] > OBAMA_BOX.height and crop.shape[1] > OBAMA_BOX.width  # the margin is there
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sink.stats == {"written": 1, "dropped": 0, "failed": 0, "pruned": 0}


async def test_full_queue_drops_and_counts(tmp_path: Path, frame: Frame) -> None:
    sink = UnknownCrops(tmp_path / "unknown", max_files=10, retention_days=0, queue_size=2)
    for _ in range(5):  # not started: nothing drains the queue
        sink.publish_event(unknown_event(), frame)
    assert sink.stats["dropped"] == 3
    await sink.start()
    await sink.stop(5)
    assert sink.stats["written"] == 2
    assert len(list((tmp_path / "unknown").glob("*.jpg"))) == 2


async def test_publish_never_waits_for_the_disk(tmp_path: Path, frame: Frame) -> None:
    sink = UnknownCrops(tmp_path / "unknown", max_files=100, retention_days=0)
    await sink.start()
    started = time.perf_counter()
    for _ in range(20):
        sink.publish_event(unknown_event(), frame)
    assert time.perf_counter() - started < 0.2  # crops copied, JPEGs encoded elsewhere
    await sink.stop(10)
    assert sink.stats["written"] + sink.stats["dropped"] == 20


async def test_pruned_to_max_files_oldest_first(tmp_path: Path, frame: Frame) -> None:
    folder = tmp_path / "unknown"
    sink = UnknownCrops(folder, max_files=3, retention_days=0)
    await sink.start()
    events = [unknown_event() for _ in range(5)]
    for event in events:
        sink.publish_event(event, frame)
        await asyncio.sleep(0.05)  # distinct mtimes: the order is the order of arrival
    await sink.stop(5)
    kept = {path.stem for path in folder.glob("*.jpg")}
    assert kept == {event.id for event in events[2:]}
    assert {path.stem for path in folder.glob("*.json")} == kept
    assert sink.stats["pruned"] == 2


def test_retention_removes_old_crops_and_their_records(tmp_path: Path) -> None:
    for stem, age_days in (("old", 40), ("new", 1)):
        for suffix in (".jpg", ".json"):
            path = tmp_path / f"{stem}{suffix}"
            path.write_bytes(b"x")
            moment = time.time() - age_days * 86400
            os.utime(path, (moment, moment))
    (tmp_path / ".old.jpg.123.tmp").write_bytes(b"x")  # a write in flight is not a crop
    assert prune_unknown(tmp_path, max_files=100, retention_days=30, now=time.time()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".old.jpg.123.tmp", "new.jpg", "new.json"]


def test_unknown_dir_defaults_beside_the_outbox(tmp_path: Path) -> None:
    config = Config()
    assert unknown_dir(config) == default_outbox_path(config.daemon.node_id).parent / "unknown"
    configured = Config.model_validate({"enrollment": {"unknown_dir": str(tmp_path)}})
    assert unknown_dir(configured) == tmp_path


async def test_failures_are_counted_never_raised(tmp_path: Path, frame: Frame) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("where the folder should be")
    sink = UnknownCrops(blocked, max_files=10, retention_days=0)
    await sink.start()
    sink.publish_event(unknown_event(), frame)  # cannot be written: the folder is a file
    sink.publish_event(unknown_event(box=FaceBox(5000, 5100, 5100, 5000)), frame)  # outside the frame
    await sink.stop(5)
    assert sink.stats["failed"] == 2 and sink.stats["written"] == 0
    sink.publish_event(unknown_event(), frame)  # after stop: ignored, not queued for nobody
    assert sink.stats["dropped"] == 0
