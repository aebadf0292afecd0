"""A node encoding remotely with no worker online: not ready, but never restarted by systemd for it.

The workers of a remote pool run elsewhere; a restart of the node cannot
bring them back, so restarting it every minute (the watchdog withheld)
would only cost the detections it does meanwhile. /readyz says why.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from support.ports import free_port
from test_worker_outages import NotifySocket, until


def test_a_remote_pool_without_workers_is_not_ready_yet_the_watchdog_is_pinged(
        data, daemon_config, run_daemon, mosquitto, tmp_path: Path) -> None:  # noqa: ANN001
    port = free_port()
    notify = NotifySocket(tmp_path / "notify.sock")
    watchdog_env = {"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "1000000"}  # checked every 0.5 s
    camera = {"name": "door", "source": str(data.kim_video), "pace": "none", "frame_skip": 29}
    config = daemon_config([camera], broker=mosquitto, snapshots={"enabled": False},
                           detector={"kind": "mediapipe", "set_width": 640},
                           workers={"encode": "remote", "remote_fallback": "lost", "remote_timeout_s": 1.0},
                           http={"enabled": True, "port": port})
    daemon = run_daemon(config, "--stdout", env=watchdog_env)
    try:
        daemon.wait_for_log("end of video file", timeout=180)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            until(lambda: client.get("/readyz").status_code == 503, 30, "/readyz 503")
            reason = client.get("/readyz").json()["reason"]
            assert "no worker of group 'face01d-encoders' online" in reason and "looks are lost" in reason
            since = len(notify.messages)
            until(lambda: notify.messages[since:].count("WATCHDOG=1") >= 4, 20, "the watchdog pinged on")
            assert client.get("/readyz").status_code == 503  # still not ready, in the same window
    finally:
        notify.close()
    assert not [r for r in daemon.logs() if r["event"] == "recognition unavailable: watchdog not pinged"]
