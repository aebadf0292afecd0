"""``face01d worker`` as a service: its status and counters on the broker, a clean stop, a config error."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from remote_helpers import REPO_ROOT, last_stats, wait_status
from support.toml_text import render_config


def test_status_counters_and_a_clean_stop(
        mosquitto, recorder, mqtt_recorder, start_worker, tmp_path) -> None:  # noqa: ANN001
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(5)
    worker = start_worker(mosquitto, "w1", recorder, env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock")},
                          processes=1)
    assert notify.recv(4096).startswith(b"READY=1\n")  # Type=notify: ready once its models are loaded
    notify.close()
    late = mqtt_recorder(mosquitto, "face01/workers/+/status")  # subscribes after: gets the retained status
    (online,) = late.wait_for_sync(lambda messages: messages)
    assert online.retain and json.loads(online.text) == {
        "state": "online", "group": "face01d-encoders", "worker": "w1", "processes": 1, "jobs": 2,
        "model": {"landmarks": "small", "jitters": 1, "encoder": "dlib_face_recognition_resnet_model_v1"}}
    recorder.wait_for_sync(lambda _: last_stats(recorder, "w1").get("connected") is True)
    worker.signal(signal.SIGTERM)
    assert worker.process.wait(30) == 0
    wait_status(recorder, worker, "offline", timeout=10)
    assert "Traceback" not in worker.output()


def test_a_worker_without_the_broker_is_a_config_error(tmp_path) -> None:  # noqa: ANN001
    config = tmp_path / "config.toml"
    config.write_text(render_config({"mqtt": {"enabled": False}}, []), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "face01d", "worker", "-c", str(config)], capture_output=True,
                          text=True, cwd=REPO_ROOT, timeout=120)
    assert done.returncode == 3, done.stderr
    assert "set [mqtt] enabled = true" in done.stderr


def test_the_worker_unit_passes_systemd_analyze_verify(tmp_path) -> None:  # noqa: ANN001
    verify = shutil.which("systemd-analyze")
    assert verify, "systemd-analyze not found: scripts/bootstrap installs the systemd package"
    unit = tmp_path / "face01d-worker.service"
    text = (REPO_ROOT / "systemd" / "face01d-worker.service").read_text()
    unit.write_text(text.replace("/opt/face01d/.venv/bin/face01d", str(Path(sys.executable).with_name("face01d"))))
    result = subprocess.run([verify, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
    for line in ("Type=notify", "ExecStart=/opt/face01d/.venv/bin/face01d worker --config", "Restart=on-failure",
                 "RestartPreventExitStatus=3", "NoNewPrivileges=yes", "ProtectSystem=strict", "User=face01d"):
        assert line in text, line
