"""watch_gallery on a real folder: real writes, renames and deletions seen through inotify."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from face01d.gallery import watch
from face01d.gallery.watch import is_gallery_file, watch_gallery
from face01d.private_files import write_private_atomic

SETTLE_S = 0.4  # the watch is set up when its task first runs; give it that long
QUIET_S = 1.2  # longer than a burst's quiet time plus a margin for a loaded machine


class Calls:
    """Counts on_change calls and lets a test wait for the next one."""

    def __init__(self) -> None:
        self.count = 0
        self.changed = asyncio.Event()

    def __call__(self) -> None:
        self.count += 1
        self.changed.set()

    async def next(self, timeout: float = 10) -> None:
        await asyncio.wait_for(self.changed.wait(), timeout)
        await asyncio.sleep(QUIET_S)  # a second call for the same burst would come now
        self.changed.clear()


@contextlib.asynccontextmanager
async def watching(folder: Path) -> AsyncIterator[Calls]:
    calls, stop = Calls(), asyncio.Event()
    task = asyncio.create_task(watch_gallery(folder, calls, stop))
    await asyncio.sleep(SETTLE_S)
    try:
        yield calls
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)  # the stop event ends the watch promptly


async def test_a_burst_of_copies_is_one_change(tmp_path: Path, data) -> None:
    image = data("face01/images/person1.png").read_bytes()
    async with watching(tmp_path) as calls:
        for number in range(8):
            (tmp_path / f"新人_{number}.png").write_bytes(image)
            await asyncio.sleep(0.02)
        await calls.next()
        assert calls.count == 1


async def test_atomic_writes_deletions_and_person_folders_are_changes(tmp_path: Path) -> None:
    async with watching(tmp_path) as calls:
        write_private_atomic(tmp_path / "obama_1.jpg", b"jpeg")  # hidden temp file, then a rename
        await calls.next()
        (tmp_path / "obama_1.jpg").unlink()
        await calls.next()
        (tmp_path / "biden").mkdir()
        (tmp_path / "biden" / "a.JPG").write_bytes(b"jpeg")
        await calls.next()
        assert calls.count == 3


async def test_hidden_temp_and_other_files_are_ignored(tmp_path: Path) -> None:
    async with watching(tmp_path) as calls:
        (tmp_path / ".obama_1.jpg.123.tmp").write_bytes(b"x")
        (tmp_path / "notes.txt").write_text("x")
        (tmp_path / "obama_1.jpg~").write_text("x")
        (tmp_path / ".face01d-cache").mkdir()
        (tmp_path / ".face01d-cache" / "thumb.png").write_bytes(b"x")
        await asyncio.sleep(QUIET_S)
        assert calls.count == 0


async def test_a_failing_callback_does_not_end_the_watch(tmp_path: Path) -> None:
    seen = asyncio.Event()

    def broken() -> None:
        seen.set()
        raise RuntimeError("bug in the callback")

    stop = asyncio.Event()
    task = asyncio.create_task(watch_gallery(tmp_path, broken, stop))
    await asyncio.sleep(SETTLE_S)
    (tmp_path / "a_1.png").write_bytes(b"x")
    await asyncio.wait_for(seen.wait(), 10)
    seen.clear()
    (tmp_path / "a_2.png").write_bytes(b"x")
    await asyncio.wait_for(seen.wait(), 10)
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_a_missing_folder_is_watched_once_it_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch, "RETRY_S", 0.2)
    folder = tmp_path / "later"
    async with watching(folder) as calls:
        folder.mkdir()
        await asyncio.sleep(0.6)  # the next retry finds it
        (folder / "a_1.png").write_bytes(b"x")
        await calls.next()
        assert calls.count == 1


def test_which_paths_count(tmp_path: Path) -> None:
    assert is_gallery_file(tmp_path, str(tmp_path / "金正恩_1.PNG"))
    assert is_gallery_file(tmp_path, str(tmp_path / "bob" / "x.webp"))
    assert not is_gallery_file(tmp_path, str(tmp_path / ".bob_1.png.9.tmp"))
    assert not is_gallery_file(tmp_path, str(tmp_path / ".face01d-cache" / "x.jpg"))
    assert not is_gallery_file(tmp_path, str(tmp_path / "bob_1.gif"))
    assert is_gallery_file(tmp_path, str(tmp_path / "bob"))  # a person folder, moved in or out whole
    assert is_gallery_file(tmp_path / ".state", str(tmp_path / ".state" / "a_1.jpg"))  # only below the root counts


async def test_a_person_folder_moved_in_whole_is_a_change(tmp_path: Path) -> None:
    gallery, outside = tmp_path / "gallery", tmp_path / "outside" / "bob"
    gallery.mkdir()
    outside.mkdir(parents=True)
    (outside / "bob_1.jpg").write_bytes(b"jpeg")
    async with watching(gallery) as calls:
        outside.rename(gallery / "bob")  # one inotify event, for the folder only
        await calls.next()
        assert calls.count == 1
