"""The daemon on live cameras: RTSP from ffmpeg and HTTP MJPEG, outages, gallery reload."""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path

import pytest

from support.servers import jpeg_frames, make_clip

KIM = "金正恩"


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory: pytest.TempPathFactory, data) -> Path:
    """60 frames at 960 px: faces big enough for HOG after set_width = 640."""
    return make_clip(data.kim_video, tmp_path_factory.mktemp("clips") / "kim-960.mp4", frames=60, width=960)


def recognized_on(recorder, camera: str) -> list[dict]:
    topic = f"face01/e2e/{camera}/event"
    events = [json.loads(m.text) for m in recorder.messages() if m.topic == topic]
    return [event for event in events if event["type"] == "recognized"]


def live(name: str, source: str, **extra: object) -> dict[str, object]:
    return {"name": name, "source": source, "stall_timeout_s": 3.0, "reconnect_max_s": 2.0, **extra}


def test_rtsp_and_mjpeg_cameras_survive_an_outage(
    face_clip, daemon_config, run_daemon, mosquitto, mqtt_recorder, rtsp_camera, mjpeg_server
):
    rtsp = rtsp_camera(face_clip)
    mjpeg = mjpeg_server(jpeg_frames(face_clip, limit=60), fps=10)
    recorder = mqtt_recorder(mosquitto, "face01/#")
    cameras = [live("gate", rtsp.url), live("porch", mjpeg.url, kind="mjpeg")]
    daemon = run_daemon(daemon_config(cameras, broker=mosquitto, events={"cooldown_s": 1.0}))

    recorder.wait_for_sync(lambda _: recognized_on(recorder, "gate") and recognized_on(recorder, "porch"), 120)
    assert {event["name"] for camera in ("gate", "porch") for event in recognized_on(recorder, camera)} == {KIM}

    mjpeg.stop()
    recorder.wait_for_sync(lambda _: recorder.payloads("face01/e2e/porch/status")[-1:] == ["offline"], 30)
    # the gate goes on: its track of him stays alive (one recognized per track), so its presence is refreshed
    gate_presence = "face01/e2e/gate/person/金正恩"
    during_outage = len(recorder.payloads(gate_presence))
    recorder.wait_for_sync(lambda _: len(recorder.payloads(gate_presence)) > during_outage + 2, 60)

    porch_before = len(recognized_on(recorder, "porch"))
    mjpeg.start()
    recorder.wait_for_sync(lambda _: recorder.payloads("face01/e2e/porch/status")[-1:] == ["online"], 30)
    recorder.wait_for_sync(lambda _: len(recognized_on(recorder, "porch")) > porch_before, 60)

    daemon.signal(signal.SIGTERM)
    assert daemon.wait(30) == 0, daemon.stderr[-3000:]
    reports = {r["camera"]: r for r in daemon.logs() if r["event"] == "camera report"}
    assert reports["porch"]["reconnects"] >= 1 and reports["gate"]["frames_read"] > 0


def test_discovery_payloads_have_what_home_assistant_requires(face_clip, daemon_config, run_daemon, mosquitto,
                                                              mqtt_recorder, mjpeg_server):
    mjpeg = mjpeg_server(jpeg_frames(face_clip, limit=10), fps=5)
    recorder = mqtt_recorder(mosquitto, "homeassistant/#")
    run_daemon(daemon_config([live("porch", mjpeg.url, kind="mjpeg")], broker=mosquitto))
    # per camera: connectivity, last recognised, event; per camera × person: occupancy, device trigger
    messages = recorder.wait_for_sync(lambda msgs: len(msgs) >= 3 + 2 * 3, 60)
    configs = {m.topic: json.loads(m.text) for m in messages}
    triggers = {t: p for t, p in configs.items() if t.startswith("homeassistant/device_automation/")}
    entities = {t: p for t, p in configs.items() if t not in triggers}
    for topic, payload in entities.items():
        assert topic.startswith(("homeassistant/binary_sensor/", "homeassistant/sensor/", "homeassistant/event/"))
        assert topic.endswith("/config") and payload["state_topic"].startswith("face01/e2e/porch/")
        assert payload["unique_id"] and payload["device"]["identifiers"]
        assert payload["availability_topic"] == "face01/e2e/status"
        assert (payload["payload_available"], payload["payload_not_available"]) == ("online", "offline")
    people = [p for p in entities.values() if p.get("device_class") == "occupancy"]
    assert {p["state_topic"].rsplit("/", 1)[1] for p in people} == {KIM, "麻生太郎", "安倍晋三"}
    for person in people:
        assert (person["payload_on"], person["payload_off"]) == ("ON", "OFF") and person["off_delay"] > 0
    assert {p["subtype"] for p in triggers.values()} == {f"{n} at porch" for n in (KIM, "麻生太郎", "安倍晋三")}
    assert all(p["automation_type"] == "trigger" and p["type"] == "recognized" for p in triggers.values())
    assert len({p["unique_id"] for p in entities.values()}) == len(entities)


def test_sighup_reloads_the_gallery(face_clip, daemon_config, run_daemon, mjpeg_server, data, tmp_path: Path):
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    for image in data.face01_gallery.glob("麻生太郎_default.png"):
        shutil.copy(image, gallery)
    mjpeg = mjpeg_server(jpeg_frames(face_clip, limit=60), fps=10)
    config = daemon_config([live("porch", mjpeg.url, kind="mjpeg")],
                           gallery={"path": str(gallery), "cache_dir": str(tmp_path / "cache")},
                           events={"cooldown_s": 1.0},
                           enrollment={"watch_gallery": False})  # SIGHUP alone: no watcher to reload too
    daemon = run_daemon(config)
    deadline = time.monotonic() + 120
    while not any(e["type"] == "unknown" for e in daemon.events()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(e["name"] == KIM for e in daemon.events())

    for image in data.face01_gallery.glob(f"{KIM}_*.png"):
        shutil.copy(image, gallery)
    daemon.signal(signal.SIGHUP)
    while not any(e["name"] == KIM for e in daemon.events()) and time.monotonic() < deadline + 60:
        time.sleep(0.2)
    assert any(e["name"] == KIM and e["type"] == "recognized" for e in daemon.events()), daemon.stderr[-2000:]
    assert daemon.process.poll() is None  # reloaded without a restart
    assert len([r for r in daemon.logs() if r["event"] == "gallery loaded"]) == 2
