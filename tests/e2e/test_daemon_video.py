"""The daemon on the FACE01 sample video and gallery, against a real mosquitto."""

from __future__ import annotations

import json
import re
import signal
import socket
import stat
import time
from pathlib import Path

import pytest
from support.event_schema import parse_event, validate_event

REGISTERED = {"金正恩", "麻生太郎", "安倍晋三"}
EVENT_KEYS = {"id", "type", "node", "camera", "name", "distance", "percentage", "box", "frame",
              "captured_at", "published_at", "snapshot", "track_id", "votes", "latency_ms", "granted", "reasons",
              "liveness"}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def video_camera(data, **overrides: object) -> dict[str, object]:
    return {"name": "door", "source": str(data.kim_video), "pace": "none", "frame_skip": 9, **overrides}


def assert_event_schema(event: dict) -> None:
    validate_event(event)  # face01d/events/event.schema.json; below, what this sample run must show
    assert set(event) == EVENT_KEYS
    assert re.fullmatch(r"[0-9a-f]{32}", event["id"])
    assert event["node"] == "e2e" and event["camera"] == "door"
    assert ISO_UTC.match(event["captured_at"]) and ISO_UTC.match(event["published_at"])
    assert event["published_at"] >= event["captured_at"]
    assert set(event["box"]) == {"top", "right", "bottom", "left"}
    assert event["frame"] == {"width": 1920, "height": 1080}
    assert 0 < event["distance"] < 0.55 and 98 < event["percentage"] < 100
    assert event["track_id"].startswith("door-") and event["votes"] >= 1 and event["latency_ms"] >= 0


def test_sample_video_recognises_kim_and_publishes(data, daemon_config, run_daemon, mosquitto, mqtt_recorder):
    recorder = mqtt_recorder(mosquitto, "#")
    config = daemon_config([video_camera(data)], broker=mosquitto, mqtt={"publish_snapshots": True})
    daemon = run_daemon(config, "--stdout", "--once")
    assert daemon.wait(240) == 0, daemon.stderr[-3000:]

    events = daemon.events()
    recognized = [event for event in events if event["type"] == "recognized"]
    assert [event["name"] for event in recognized] == ["金正恩"]  # once: one track, or the cooldown, while he stays
    assert not {event["name"] for event in events} & (REGISTERED - {"金正恩"})
    assert_event_schema(recognized[0])
    assert [event["snapshot"] for event in events if event["type"] == "left"] == [None]  # end of file

    event_topic = "face01/e2e/door/event"
    published = recorder.wait_for_sync(lambda msgs: any(m.topic == event_topic for m in msgs), timeout=10)
    [message] = [m for m in published if m.topic == event_topic and parse_event(m.text)["type"] == "recognized"]
    assert parse_event(message.text)["id"] == recognized[0]["id"]
    assert message.qos == 1 and not message.retain
    assert "金正恩" in message.text  # UTF-8, not \\u escapes

    statuses = recorder.payloads("face01/e2e/status")
    assert statuses[0] == "online" and statuses[-1] == "offline"
    assert "ON" in recorder.payloads("face01/e2e/door/person/金正恩")
    snapshots = [m for m in recorder.messages("face01/e2e/door/snapshot")]
    assert snapshots and snapshots[0].payload[:2] == b"\xff\xd8" and not snapshots[0].retain  # a JPEG


def test_events_on_stdout_logs_on_stderr(data, daemon_config, run_daemon):
    daemon = run_daemon(daemon_config([video_camera(data, frame_skip=29)]), "--stdout", "--once")
    assert daemon.wait(240) == 0, daemon.stderr[-3000:]
    for line in daemon.stdout.splitlines():
        assert parse_event(line)["type"] in {"recognized", "unknown", "left"}  # nothing but events
    logs = daemon.logs()
    assert any(record["event"] == "daemon started" for record in logs)
    [report] = [record for record in logs if record["event"] == "camera report"]
    assert report["frames_read"] == 272  # every frame read from the file ...
    assert report["analysed"] == 10  # ... one in 30 analysed (frame_skip = 29): frames 0, 30, ..., 270
    assert report["frames_dropped"] == 0


def test_snapshots_are_private_files(data, daemon_config, run_daemon, tmp_path: Path):
    daemon = run_daemon(daemon_config([video_camera(data, frame_skip=29)]), "--stdout", "--once")
    assert daemon.wait(240) == 0, daemon.stderr[-3000:]
    [event] = [event for event in daemon.events() if event["type"] == "recognized"]
    face = Path(event["snapshot"])
    assert face.is_file() and face.name.endswith("_face.jpg") and "金正恩" in face.name
    assert face.with_name(face.name.replace("_face", "_frame")).is_file()
    assert face.is_relative_to(tmp_path / "snapshots" / "door")
    assert stat.S_IMODE(face.stat().st_mode) == 0o600
    for folder in (face.parent, face.parent.parent, tmp_path / "snapshots"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def live_video(data) -> dict[str, object]:
    """The sample at its own pace: the daemon stays up after it ends (no --once)."""
    return video_camera(data, pace="native", frame_skip=0)


def test_kill_9_makes_the_broker_publish_offline(data, daemon_config, run_daemon, mosquitto, mqtt_recorder):
    recorder = mqtt_recorder(mosquitto, "face01/e2e/status")
    daemon = run_daemon(daemon_config([live_video(data)], broker=mosquitto))
    recorder.wait_for_sync(lambda msgs: any(m.text == "online" for m in msgs), timeout=60)
    daemon.signal(signal.SIGKILL)
    daemon.wait(10)
    recorder.wait_for_sync(lambda msgs: msgs[-1].text == "offline", timeout=15)  # the Last Will


def test_sigterm_publishes_offline_and_exits_0(data, daemon_config, run_daemon, mosquitto, mqtt_recorder):
    recorder = mqtt_recorder(mosquitto, "face01/e2e/#")
    daemon = run_daemon(daemon_config([live_video(data)], broker=mosquitto))
    daemon.wait_for_log("daemon started")
    recorder.wait_for_sync(lambda msgs: any(m.text == "online" for m in msgs), timeout=30)
    time.sleep(1.0)
    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(30) == 0, daemon.stderr[-3000:]
    assert time.monotonic() - started < 20
    assert recorder.payloads("face01/e2e/status")[-1] == "offline"
    assert daemon.wait_for_log("camera report")["camera"] == "door"
    assert daemon.wait_for_log("stopped")


def test_a_second_instance_on_the_same_config_is_refused(data, daemon_config, run_daemon):
    config = daemon_config([live_video(data)])
    first = run_daemon(config)
    first.wait_for_log("daemon started")
    second = run_daemon(config)
    assert second.wait(60) == 7
    assert "already in use by another face01d" in second.stderr and f"pid {first.process.pid}" in second.stderr
    assert first.process.poll() is None


def test_dead_broker_still_prints_events(data, daemon_config, run_daemon, mosquitto):
    mosquitto.stop()  # a port where nothing listens any more
    daemon = run_daemon(daemon_config([video_camera(data, frame_skip=29)], broker=mosquitto), "--stdout", "--once")
    assert daemon.wait(240) == 0, daemon.stderr[-3000:]
    assert {event["name"] for event in daemon.events() if event["type"] == "recognized"} == {"金正恩"}
    warnings = [record for record in daemon.logs() if record["level"] in ("warning", "error")]
    assert any("mqtt" in record["event"] for record in warnings), warnings


def test_an_unreadable_video_file_ends_its_camera_and_once_exits_4(data, daemon_config, run_daemon, tmp_path):
    cameras = [video_camera(data, frame_skip=29), {"name": "gone", "source": str(tmp_path / "missing.mp4")}]
    daemon = run_daemon(daemon_config(cameras), "--stdout", "--once")
    assert daemon.wait(240) == 4, daemon.stderr[-3000:]
    assert [e["name"] for e in daemon.events() if e["type"] == "recognized"] == ["金正恩"]  # the other camera ran
    failures = [r for r in daemon.logs() if r["event"] == "camera failure"]
    assert failures and str(tmp_path / "missing.mp4") in json.dumps(failures, ensure_ascii=False)


@pytest.mark.parametrize("broken, message", [
    ({"gallery": {"path": "/nonexistent/gallery"}}, "gallery folder not found: /nonexistent/gallery"),
])
def test_start_up_failures_have_their_exit_code(data, daemon_config, run_daemon, broken, message):
    daemon = run_daemon(daemon_config([video_camera(data)], **broken))
    assert daemon.wait(60) == 5
    assert message in daemon.stderr and "Traceback" not in daemon.stderr


def test_systemd_notify_ready_watchdog_status_stopping(data, daemon_config, run_daemon, tmp_path: Path):
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(60)
        env = {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "1000000"}
        daemon = run_daemon(daemon_config([live_video(data)]), env=env)
        received: list[str] = []
        while not any("WATCHDOG=1" in m for m in received) or not any("READY=1" in m for m in received):
            received.append(sock.recv(4096).decode())
        assert any(m.startswith("READY=1") and "STATUS=watching 1 camera" in m for m in received), received
        first_watchdog = len(received)
        while sum("WATCHDOG=1" in m for m in received[first_watchdog - 1:]) < 3:  # kept alive every 0.5 s
            received.append(sock.recv(4096).decode())
        daemon.signal(signal.SIGTERM)
        while "STOPPING=1" not in received[-1]:
            received.append(sock.recv(4096).decode())
        assert daemon.wait(30) == 0
    assert any(re.fullmatch(r"STATUS=door: \d+ read, \d+ analysed, \d+ dropped", m) for m in received), received


def test_events_of_a_daemon_killed_during_an_outage_arrive_after_restart(
    data, daemon_config, run_daemon, mosquitto, mqtt_recorder, tmp_path: Path
):
    """The durable outbox: SIGKILL while the broker is down loses no event printed on --stdout."""
    mosquitto.stop()
    mqtt = {"outbox_path": str(tmp_path / "state" / "outbox.sqlite3")}
    first = run_daemon(daemon_config([live_video(data)], broker=mosquitto, mqtt=mqtt), "--stdout")
    deadline = time.monotonic() + 120
    while not first.events() and first.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    first.signal(signal.SIGKILL)  # at once: a printed event is committed to the outbox already
    first.wait(10)
    printed = [event["id"] for event in first.events()]
    assert printed, first.stderr[-3000:]

    mosquitto.start()
    recorder = mqtt_recorder(mosquitto, "face01/e2e/+/event")
    nothing_new = {"name": "door", "source": str(tmp_path / "missing.mp4")}  # a camera that yields no event
    second = run_daemon(daemon_config([nothing_new], broker=mosquitto, mqtt=mqtt))
    received = recorder.wait_for_sync(lambda msgs: len(msgs) >= len(printed), timeout=60)
    assert [parse_event(m.text)["id"] for m in received] == printed  # each once, in order
    second.signal(signal.SIGTERM)
    second.wait(30)
