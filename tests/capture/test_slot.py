"""FrameSlot: newest-frame hand-off that drops stale frames, or waits, and closes."""

from __future__ import annotations

import asyncio

import numpy as np

from face01d.capture.slot import FrameSlot
from face01d.faces import Frame


def frame(index: int) -> Frame:
    return Frame(camera="cam", index=index, image=np.zeros((2, 2, 3), np.uint8), captured_at=0.0)


async def test_drop_stale_keeps_only_the_newest_and_counts_the_rest() -> None:
    slot = FrameSlot(drop_stale=True)
    for index in range(5):
        assert await slot.put(frame(index))
        assert len(slot) == 1
    assert slot.dropped == 4
    assert (await slot.get()).index == 4


async def test_without_drop_the_producer_waits_for_the_consumer() -> None:
    slot = FrameSlot(drop_stale=False, capacity=1)
    await slot.put(frame(0))
    second = asyncio.create_task(slot.put(frame(1)))
    await asyncio.sleep(0.05)
    assert not second.done(), "put should wait while the previous frame is untaken"
    assert (await slot.get()).index == 0
    await asyncio.wait_for(second, 1)
    assert (await slot.get()).index == 1
    assert slot.dropped == 0


async def test_a_lossless_slot_lets_a_few_frames_wait_in_order() -> None:
    slot = FrameSlot(drop_stale=False)
    for index in range(slot.capacity):
        await asyncio.wait_for(slot.put(frame(index)), 1)  # decoded ahead while the analysis works
    blocked = asyncio.create_task(slot.put(frame(99)))
    await asyncio.sleep(0.05)
    assert not blocked.done() and len(slot) == slot.capacity > 1
    assert [(await slot.get()).index for _ in range(slot.capacity)] == list(range(slot.capacity))
    await asyncio.wait_for(blocked, 1)
    assert (await slot.get()).index == 99 and slot.dropped == 0


async def test_close_wakes_the_consumer_after_the_last_frame() -> None:
    slot = FrameSlot(drop_stale=True)
    waiting = asyncio.create_task(slot.get())
    await asyncio.sleep(0.01)
    await slot.put(frame(7))
    assert (await asyncio.wait_for(waiting, 1)).index == 7
    await slot.put(frame(8))
    slot.close()
    assert (await slot.get()).index == 8
    assert await slot.get() is None
    assert not await slot.put(frame(9))
