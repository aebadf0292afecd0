"""Whose clock a camera's frames run on: the wall clock, or a file's own timestamps.

A live camera (and a file read at ``pace = "native"``) is watched *now*:
its frames are as old as the moment they were read, a slow analysis must
drop frames rather than fall behind, and somebody who walked away must be
announced ``left`` when the presence timeout passes on the wall clock, even
if no frame comes (a camera gone offline). A file read at ``pace = "none"``
runs on its own timeline, faster or slower than the wall clock: every frame
is analysed, and presence expires only from its frames' capture times.

This is one setting of the pipeline (``CameraPipeline(timeline=...)``), so
that the frame hand-off, the adaptive pacing and presence expiry all follow
the same switch instead of each guessing it from the other.
"""

from __future__ import annotations

from enum import Enum

from face01d.config.models import CameraConfig, CameraKind


class Timeline(Enum):
    WALL = "wall"  # frames are now: drop stale ones, adapt to the machine, expire presence by the clock
    FILE = "file"  # the file's own timestamps: every frame analysed, presence expires from the frames

    @property
    def drops_stale(self) -> bool:
        """Whether a frame nobody took yet is replaced by a newer one (see capture/slot.py)."""
        return self is Timeline.WALL


def timeline_for(camera: CameraConfig) -> Timeline:
    """A file read without pacing runs on its own timeline; everything else on the wall clock."""
    if camera.kind is CameraKind.FILE and camera.pace == "none":
        return Timeline.FILE
    return Timeline.WALL
