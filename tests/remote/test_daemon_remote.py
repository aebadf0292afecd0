"""The daemon with ``encode = "remote"`` on the sample clip: one worker, and 金正恩 recognised.

``remote_fallback = "lost"``: a look no worker encoded is lost, so every
recognition here came from the remote worker.
"""

from __future__ import annotations

import json
import subprocess
import sys

from remote_helpers import REPO_ROOT, last_stats
from support.toml_text import render_config


def test_a_node_encoding_remotely_recognises_kim(
        data, mosquitto, recorder, start_worker, tmp_path) -> None:  # noqa: ANN001
    start_worker(mosquitto, "w1", recorder)
    sections = {
        "daemon": {"node_id": "node1", "log_format": "json", "lock_file": str(tmp_path / "face01d.lock")},
        "gallery": {"path": str(data.face01_gallery), "cache_dir": str(tmp_path / "cache")},
        "detector": {"kind": "hog", "upsampling": 1, "set_width": 640},
        "workers": {"encode": "remote", "remote_fallback": "lost", "remote_timeout_s": 3.0},
        "tracking": {"decision_deadline_s": 3.0},  # a shared 2-core test machine: a job may wait for a core
        "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "outbox_path": str(tmp_path / "outbox.sqlite3")},
        "snapshots": {"enabled": False},
        "enrollment": {"keep_unknown": False, "watch_gallery": False},
    }
    camera = {"name": "door", "source": str(data.kim_video), "pace": "none", "frame_skip": 9}
    (config := tmp_path / "config.toml").write_text(render_config(sections, [camera]), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "face01d", "run", "-c", str(config), "--stdout", "--once"],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    events = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert [e["name"] for e in events if e["type"] == "recognized"] == ["金正恩"]
    logs = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert not [entry for entry in logs if entry.get("event") == "remote.encode_unavailable"], done.stderr[-3000:]
    recorder.wait_for_sync(lambda _: last_stats(recorder, "w1").get("done", 0) > 0)
