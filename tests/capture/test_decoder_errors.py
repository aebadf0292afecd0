"""A video corrupt in the middle (every frame still there) is reported as corrupt, not as complete.

Real files through the real capture path: ffmpeg encodes a clip, the test
overwrites bytes in the middle of its ``mdat`` (the index stays intact, so
the container still announces every frame and OpenCV still reads every one),
and FFmpeg's own error lines on fd 2, captured by ``face01d.native_stderr``,
are what tell the camera.
"""

from __future__ import annotations

import asyncio
import random
import struct
import subprocess
from pathlib import Path

import pytest
from capture_helpers import Consumer
from structlog.testing import capture_logs
from test_native_stderr import captured, native_records

from face01d.capture import Camera, slot_for
from face01d.config.models import CameraConfig

CLIP_FRAMES = 60
HEALTHY_SAMPLES = ("face01/video/kim_jong_un_alone.mp4", "face_recognition/examples/short_hamilton_clip.mp4")


def encode_clip(src: Path, dst: Path) -> Path:
    """60 frames of H.264, one keyframe every 30: damage in one GOP smears the frames after it."""
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-an", "-vf", "fps=15,scale=320:-2",
           "-frames:v", str(CLIP_FRAMES), "-c:v", "libx264", "-preset", "ultrafast", "-g", "30",
           "-pix_fmt", "yuv420p", str(dst)]
    subprocess.run(cmd, check=True, timeout=120)
    return dst


def damage_mdat(path: Path, length: int = 2000, seed: int = 1) -> None:
    """Overwrite ``length`` bytes in the middle of the media data with seeded noise."""
    data = bytearray(path.read_bytes())
    at = data.find(b"mdat")
    assert at >= 4, f"no mdat box in {path}"
    (size,) = struct.unpack(">I", data[at - 4 : at])
    middle = at + 4 + (size - 8) // 2
    noise = random.Random(seed)
    data[middle : middle + length] = bytes(noise.randrange(256) for _ in range(length))
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def corrupt_clip(data, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = encode_clip(data.kim_video, tmp_path_factory.mktemp("corrupt") / "kim-corrupt.mp4")
    damage_mdat(path)
    return path


async def play(path: Path, name: str = "file", analysis_s: float = 0.0) -> Camera:
    """Read a whole file through a camera; ``analysis_s`` per frame holds the reads back, as analysis does."""
    config = CameraConfig(name=name, source=str(path), pace="none")
    slot = slot_for(config)
    camera, consumer = Camera(config, slot), Consumer(slot, delay_s=analysis_s)
    await asyncio.wait_for(camera.run(), 120)
    await asyncio.wait_for(consumer.task, 5)
    return camera


async def test_a_video_corrupt_in_the_middle_is_reported_corrupt_and_failed(corrupt_clip: Path) -> None:
    with capture_logs() as logs, captured():
        # FFmpeg's frame threads report a damaged frame when they finish it, often between two
        # reads when analysis holds the reads back: the camera's open capture is charged anyway
        camera = await play(corrupt_clip, name="damaged", analysis_s=0.02)
    stats = camera.stats_dict()
    errors = stats["decoder_errors"]
    assert stats["frames_read"] >= CLIP_FRAMES * 0.95, "the damage should not look like a truncation"
    assert errors > 0 and stats["failed"]
    assert stats["error"] == f"corrupt video: {errors} decoder errors in {corrupt_clip}"
    [failure] = [entry for entry in logs if entry["event"] == "camera failure"]
    assert failure["log_level"] == "warning" and failure["error"] == stats["error"]
    native = native_records(logs)
    assert native and all(entry["camera"] == "damaged" and entry["decoder_error"] for entry in native)
    assert not any(entry["event"] == "end of video file" for entry in logs)


async def test_without_the_capture_the_same_file_is_not_counted(corrupt_clip: Path) -> None:
    camera = await play(corrupt_clip)  # fd 2 left alone: nothing counted, the old behaviour
    assert camera.stats.decoder_errors == 0 and not camera.stats.failed


@pytest.mark.parametrize("sample", HEALTHY_SAMPLES)
async def test_the_healthy_sample_videos_count_no_decoder_error(data, sample: str) -> None:
    with capture_logs() as logs, captured():
        camera = await play(data(sample))
    assert camera.stats.decoder_errors == 0 and not camera.stats.failed and camera.stats.error is None
    assert native_records(logs) == []
    assert any(entry["event"] == "end of video file" for entry in logs)
