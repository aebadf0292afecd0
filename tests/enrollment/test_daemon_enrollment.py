"""Enrollment through a real daemon: a stranger on camera leaves a crop, `gallery promote` adds him,
the watched gallery reloads without a restart, and `POST /recognize` names him."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import cv2
import httpx
from click.testing import CliRunner

from face01d.app import Daemon
from face01d.cli import cli
from face01d.config.models import (CameraConfig, Config, DaemonConfig, DetectorConfig, EnrollmentConfig,
                                   GalleryConfig, HttpConfig, MqttConfig, SnapshotConfig, WorkersConfig)

KIM = "金正恩"
TOKEN = "enrol"


async def wait_for(condition, timeout: float = 90.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


def kim_frame_jpeg(video: Path) -> bytes:
    capture = cv2.VideoCapture(str(video))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 60)
    ok, frame = capture.read()
    capture.release()
    assert ok, f"cannot read frame 60 of {video}"
    return cv2.imencode(".jpg", frame)[1].tobytes()


async def names_in(client: httpx.AsyncClient, jpeg: bytes) -> list[str]:
    answer = await client.post("/recognize", content=jpeg, headers={"Content-Type": "image/jpeg"})
    assert answer.status_code == 200, answer.text
    return [face["name"] for face in answer.json()["faces"]]


async def test_a_stranger_becomes_a_person_without_a_restart(data, tmp_path: Path):
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    for image in data.face01_gallery.iterdir():
        if not image.name.startswith(KIM):
            shutil.copy(image, gallery / image.name)
    unknown = tmp_path / "unknown"
    config = Config(daemon=DaemonConfig(lock_file=tmp_path / "lock"),
                    gallery=GalleryConfig(path=gallery, cache_dir=tmp_path / "cache"),
                    detector=DetectorConfig(kind="mediapipe", set_width=640),
                    workers=WorkersConfig(detect="thread", encode="thread", threads=1),
                    mqtt=MqttConfig(enabled=False), snapshots=SnapshotConfig(enabled=False),
                    http=HttpConfig(enabled=True, port=0, token=TOKEN),
                    enrollment=EnrollmentConfig(unknown_dir=unknown),
                    cameras=[CameraConfig(name="door", source=str(data.kim_video), pace="none")])
    daemon = Daemon(config, None, once=False, stdout_events=False)
    run = asyncio.create_task(daemon.run())
    try:
        await wait_for(lambda: run.done() or any(unknown.glob("*.json")))
        (record,) = [json.loads(path.read_text()) for path in unknown.glob("*.json")][:1]
        assert record["type"] == "unknown" and record["camera"] == "door" and record["track_id"]
        assert (unknown / f"{record['id']}.jpg").exists()

        jpeg = kim_frame_jpeg(data.kim_video)
        assert daemon.http_port is not None
        base, headers = f"http://127.0.0.1:{daemon.http_port}", {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
            assert await names_in(client, jpeg) == ["Unknown"]
            promoted = await asyncio.to_thread(CliRunner().invoke, cli, [
                "gallery", "promote", record["id"][:8], KIM, "--gallery", str(gallery), "--unknown-dir", str(unknown)])
            assert promoted.exit_code == 0, promoted.output
            await wait_for(lambda: KIM in daemon.recognizer.gallery.people)  # the watcher's reload
            assert await names_in(client, jpeg) == [KIM]
            assert (await client.delete(f"/gallery/{KIM}")).status_code == 200
            assert KIM not in daemon.recognizer.gallery.people
    finally:
        daemon.request_stop("test")
        assert await asyncio.wait_for(run, 60) == 0
