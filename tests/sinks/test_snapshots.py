"""Snapshots: paths, modes, crops, a bounded queue, disk failures and retention.

Disk failures are real: a tmpfs that is full or remounted read-only (needs
root and mount(2); skipped with the reason otherwise), and a folder path
whose parent is a regular file (runs anywhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from structlog.testing import capture_logs

from face01d.config.models import SnapshotConfig
from face01d.events.model import Event, EventType
from face01d.sinks import snapshots
from face01d.sinks.retention import prune
from face01d.sinks.snapshots import SnapshotWriter, encode_jpeg, safe_component
from face01d.faces import FaceBox

CAPTURED_AT = 1_700_000_000.123  # 2023-11-14 22:13:20.123 UTC
BOX = FaceBox(top=100, right=200, bottom=200, left=100)


@pytest.fixture(scope="module")
def image(data) -> np.ndarray:
    frame = cv2.imread(str(data.face01_images / "person1.png"), cv2.IMREAD_COLOR)
    assert frame is not None and frame.shape == (600, 600, 3)
    return frame


def event(name: str = "安倍晋三", camera: str = "玄関", box: FaceBox | None = BOX, **kw) -> Event:
    return Event(type=EventType.RECOGNIZED, node="n", camera=camera, name=name, captured_at=CAPTURED_AT,
                 distance=0.3, percentage=99.0, box=box, frame_width=600, frame_height=600, **kw)


def config(root: Path, **kw) -> SnapshotConfig:
    return SnapshotConfig(dir=root, **kw)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def write(writer: SnapshotWriter, items: list[tuple[Event, np.ndarray]]) -> list[str | None]:
    await writer.start()
    paths = [writer.submit(e, img) for e, img in items]
    await writer.stop(timeout=30)
    return paths


async def test_face_snapshot_path_modes_and_crop(tmp_path, image):
    root = tmp_path / "snaps"
    ev = event(name="安倍晋三", camera="玄関/../cam\x00")
    old_umask = os.umask(0)  # modes must not depend on the umask
    try:
        [path] = await write(SnapshotWriter(config(root, face_margin=0.3)), [(ev, image)])
    finally:
        os.umask(old_umask)
    expected = root / "玄関..cam" / "2023-11-14" / f"221320.123_安倍晋三_{ev.id[:8]}_face.jpg"
    assert path == str(expected)
    assert mode(expected) == 0o600
    for folder in (root, root / "玄関..cam", expected.parent):
        assert mode(folder) == 0o700
    crop = cv2.imread(str(expected))
    assert crop.shape == (160, 160, 3)  # 100 px box + 30 px on each side
    assert list(expected.parent.iterdir()) == [expected]  # no temp file left


async def test_crop_is_clipped_at_the_image_edges(tmp_path, image):
    corner, edge = FaceBox(0, 100, 100, 0), FaceBox(500, 600, 600, 550)
    writer = SnapshotWriter(config(tmp_path, face_margin=0.5))
    paths = await write(writer, [(event(box=corner), image), (event(box=edge), image)])
    assert cv2.imread(paths[0]).shape == (150, 150, 3)
    assert cv2.imread(paths[1]).shape == (150, 75, 3)  # rows 450..600, cols 525..600


async def test_frame_only_and_both(tmp_path, image):
    frame_only = SnapshotWriter(config(tmp_path / "a", save_face=False, save_frame=True))
    [path] = await write(frame_only, [(event(), image)])
    assert path.endswith("_frame.jpg") and cv2.imread(path).shape == image.shape
    both = SnapshotWriter(config(tmp_path / "b", save_face=True, save_frame=True))
    [path] = await write(both, [(event(), image)])
    assert path.endswith("_face.jpg")
    assert sorted(p.name[-9:] for p in Path(path).parent.iterdir()) == ["_face.jpg", "frame.jpg"]
    assert both.stats["written"] == 2 and both.stats["bytes"] == sum(
        p.stat().st_size for p in Path(path).parent.iterdir())


async def test_nothing_to_save_gives_none(tmp_path, image):
    assert await write(SnapshotWriter(config(tmp_path)), [(event(box=None), image)]) == [None]
    assert await write(SnapshotWriter(config(tmp_path, enabled=False)), [(event(), image)]) == [None]
    assert not any(tmp_path.iterdir())


async def test_full_queue_drops_and_counts_then_stop_flushes(tmp_path, image):
    writer = SnapshotWriter(config(tmp_path, queue_size=3))
    paths = [writer.submit(event(), image) for _ in range(5)]
    assert [p is not None for p in paths] == [True, True, True, False, False]
    assert writer.stats["dropped"] == 2
    await writer.start()
    await writer.stop(timeout=30)
    assert writer.stats["written"] == 3
    assert all(Path(p).is_file() for p in paths[:3])
    assert writer.submit(event(), image) is None  # stopped


async def test_the_queue_is_bounded_in_bytes_dropping_whole_frames_first(tmp_path):
    """64 queued 1080p frames would be ~400 MB: ``queue_mb`` bounds the images held, whatever their count."""
    frame = np.zeros((1080, 1920, 3), np.uint8)  # 6.2 MB
    writer = SnapshotWriter(config(tmp_path, save_face=True, save_frame=True, queue_mb=16))
    paths = [writer.submit(event(), frame) for _ in range(20)]  # the writer is not started: nothing drains
    assert all(p is not None and p.endswith("_face.jpg") for p in paths)  # every event keeps its face
    assert writer.queued_bytes <= 16 * 1024 * 1024
    assert writer.stats["frames_dropped"] == 18  # two frames fit, the others were left out
    assert writer.stats["dropped"] == 0
    await writer.start()
    await writer.stop(timeout=30)
    assert writer.queued_bytes == 0
    written = [p.name for p in tmp_path.rglob("*.jpg")]
    assert sum(n.endswith("_frame.jpg") for n in written) == 2 and sum(n.endswith("_face.jpg") for n in written) == 20


async def test_a_frame_only_job_beyond_the_byte_budget_is_dropped_and_counted(tmp_path):
    frame = np.zeros((1080, 1920, 3), np.uint8)
    writer = SnapshotWriter(config(tmp_path, save_face=False, save_frame=True, queue_mb=8))
    paths = [writer.submit(event(), frame) for _ in range(5)]
    assert [p is not None for p in paths] == [True, False, False, False, False]  # one frame alone may exceed it
    assert writer.stats["dropped"] == 4 and writer.stats["frames_dropped"] == 4
    await writer.start()
    await writer.stop(timeout=30)
    assert writer.stats["written"] == 1


def test_encode_jpeg_decodes_back(image):
    data = encode_jpeg(image, 80)
    assert data[:2] == b"\xff\xd8"
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == image.shape
    assert len(encode_jpeg(image, 20)) < len(data)


def test_safe_component():
    assert safe_component("../../etc/passwd") == "etcpasswd"
    assert safe_component("a\x00b\nc\x7f") == "abc"
    assert safe_component("...") == safe_component("") == "_"
    assert safe_component(".金正恩") == "金正恩"
    assert len(safe_component("x" * 500)) == snapshots.MAX_NAME_CHARS


def warnings(logs: list[dict]) -> list[dict]:
    return [entry for entry in logs if entry["log_level"] == "warning"]


async def test_a_folder_that_cannot_be_created_is_logged_once_and_recovers(tmp_path, image):
    blocker = tmp_path / "snaps"
    blocker.write_text("a regular file where the snapshot folder should be")
    writer = SnapshotWriter(config(blocker))
    await writer.start()
    with capture_logs() as logs:
        for _ in range(3):
            assert writer.submit(event(), image) is not None
        await writer._queue.join()
        assert writer.stats["failed"] == 3 and writer.stats["written"] == 0
        [warning] = warnings(logs)
        assert warning["error"] == "ENOTDIR" and warning["path"].startswith(str(blocker))
        blocker.unlink()  # the operator fixes it
        path = writer.submit(event(), image)
        await writer.stop(timeout=30)
    assert Path(path).is_file() and writer.stats["written"] == 1
    assert [e["event"] for e in logs if e["log_level"] == "info"] == ["snapshot writes recovered"]


@contextlib.contextmanager
def tmpfs(where: Path, size: str):
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def remount(where: Path, option: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{option}", str(where)], check=True)


async def test_read_only_disk_is_logged_once_and_writing_resumes_when_writable(tmp_path, image):
    with tmpfs(tmp_path / "mnt", "4m") as mnt:
        remount(mnt, "ro")
        writer = SnapshotWriter(config(mnt / "snaps"))
        await writer.start()
        with capture_logs() as logs:
            for _ in range(3):
                writer.submit(event(), image)
            await writer._queue.join()
            assert [w["error"] for w in warnings(logs)] == ["EROFS"]
            assert writer.stats["failed"] == 3
            remount(mnt, "rw")
            path = writer.submit(event(), image)
            await writer.stop(timeout=30)
        assert Path(path).is_file() and writer.stats["written"] == 1


async def test_full_disk_is_counted_and_leaves_no_partial_file(tmp_path, image):
    noise = np.random.default_rng(1).integers(0, 256, (600, 600, 3), dtype=np.uint8)  # ≈ 700 KB as JPEG
    with tmpfs(tmp_path / "mnt", "256k") as mnt:
        writer = SnapshotWriter(config(mnt / "snaps", save_face=False, save_frame=True, jpeg_quality=95))
        with capture_logs() as logs:
            await write(writer, [(event(), noise), (event(), noise)])
        assert [w["error"] for w in warnings(logs)] == ["ENOSPC"]
        assert writer.stats["failed"] == 2 and writer.stats["written"] == 0
        assert [p for p in (mnt / "snaps").rglob("*") if p.is_file()] == []


def make_file(path: Path, size: int, mtime: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    os.utime(path, (mtime, mtime))
    return path


def test_retention_by_age_removes_old_files_and_empty_date_folders(tmp_path):
    now = 1_700_000_000.0
    old = make_file(tmp_path / "cam" / "2023-10-01" / "old.jpg", 10, now - 31 * 86400)
    young = make_file(tmp_path / "cam" / "2023-11-14" / "young.jpg", 10, now - 29 * 86400)
    foreign = [make_file(tmp_path / "cam" / "notes.txt", 10, 0), make_file(tmp_path / "x.jpg", 10, 0),
               make_file(tmp_path / "cam" / "misc" / "a.jpg", 10, 0)]
    result = prune(tmp_path, retention_days=30, max_mb=0, now=now)
    assert (result.deleted, result.freed, result.kept, result.errors) == (1, 10, 10, 0)
    assert not old.exists() and not old.parent.exists()
    assert young.exists() and all(path.exists() for path in foreign)


def test_retention_by_size_removes_the_oldest_first(tmp_path):
    now = 1_700_000_000.0
    files = [make_file(tmp_path / "cam" / "2023-11-14" / f"{i}.jpg", 300_000, now - 100 + i) for i in range(5)]
    result = prune(tmp_path, retention_days=0, max_mb=1, now=now)
    assert [f.exists() for f in files] == [False, False, True, True, True]
    assert (result.deleted, result.kept) == (2, 900_000)
    assert prune(tmp_path, retention_days=0, max_mb=0, now=now + 1e9).deleted == 0  # 0: no limits


async def test_retention_runs_at_start_and_then_periodically(tmp_path, monkeypatch):
    monkeypatch.setattr(snapshots, "RETENTION_INTERVAL_S", 0.05)
    old = make_file(tmp_path / "cam" / "2020-01-01" / "a.jpg", 10, 1_000_000.0)
    writer = SnapshotWriter(config(tmp_path, retention_days=1))
    await writer.start()
    await wait_until(lambda: not old.exists())
    later = make_file(tmp_path / "cam" / "2020-01-02" / "b.jpg", 10, 1_000_000.0)
    await wait_until(lambda: writer.stats["pruned"] == 2)  # counted after the delete: wait for the count
    await writer.stop(timeout=5)
    assert not later.exists()


async def wait_until(condition, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_writing_a_tenth_of_the_cap_prunes_before_the_interval(tmp_path, image):
    old = make_file(tmp_path / "cam" / "2020-01-01" / "a.jpg", 290_000, 1_000_000.0)
    newer = make_file(tmp_path / "cam" / "2020-01-02" / "b.jpg", 10, 2_000_000.0)
    writer = SnapshotWriter(config(tmp_path, retention_days=0, max_mb=0.3, save_frame=True))
    await writer.start()  # the first run keeps both: 290 KB < 300 KB (307,200 B)
    await asyncio.sleep(0.1)
    assert old.exists()
    writer.submit(event(camera="cam"), image)  # face + frame > 31 KB, a tenth of the cap
    await wait_until(lambda: not old.exists())
    await writer.stop(timeout=5)
    assert newer.exists() and writer.stats["pruned"] == 1


async def test_stop_without_start_returns_at_once_and_counts_the_queue(tmp_path, image):
    writer = SnapshotWriter(config(tmp_path))
    writer.submit(event(), image)
    async with asyncio.timeout(1):
        await writer.stop(timeout=30)
    assert writer.stats["dropped"] == 1 and writer.stats["written"] == 0


async def test_a_face_outside_the_frame_is_counted_and_the_frame_still_saved(tmp_path, image):
    writer = SnapshotWriter(config(tmp_path, save_frame=True))
    with capture_logs() as logs:
        [path] = await write(writer, [(event(box=FaceBox(700, 900, 800, 800)), image)])
    assert path.endswith("_frame.jpg") and Path(path).is_file()
    assert writer.stats["failed"] == 1 and [w["error"] for w in warnings(logs)] == ["crop"]
