"""The systemd unit verifies, and the sd_notify datagrams arrive on a real socket."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from face01d.systemd import SystemdNotifier

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "face01d.service"


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    verify = shutil.which("systemd-analyze")
    assert verify, "systemd-analyze not found: scripts/bootstrap installs the systemd package"
    # verify checks that ExecStart exists: point it at this checkout's entry point
    executable = Path(sys.executable).with_name("face01d")
    unit = tmp_path / "face01d.service"
    unit.write_text(UNIT.read_text().replace("/opt/face01d/.venv/bin/face01d", str(executable)))
    result = subprocess.run([verify, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # verify only warns about bad values: none allowed


def test_unit_has_the_promised_settings() -> None:
    text = UNIT.read_text()
    for line in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "SupplementaryGroups=video",
                 "StateDirectory=face01d", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
                 "PrivateTmp=yes", "User=face01d", "LimitNOFILE="):
        assert line in text, line


@pytest.fixture
def notify_socket(tmp_path: Path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    yield path, sock
    sock.close()


def test_notify_sends_key_value_lines(notify_socket) -> None:
    path, sock = notify_socket
    SystemdNotifier(str(path)).notify(READY=1, STATUS="2 cameras")
    assert sock.recv(4096) == b"READY=1\nSTATUS=2 cameras"


def test_a_socket_nobody_reads_never_blocks_the_caller(notify_socket) -> None:
    """The kernel queues 10 datagrams on a socket nobody reads; the 11th would block a blocking sender."""
    path, sock = notify_socket
    notifier = SystemdNotifier(str(path))
    sender = threading.Thread(target=lambda: [notifier.notify(WATCHDOG=1) for _ in range(100)], daemon=True)
    sender.start()
    sender.join(timeout=10)
    assert not sender.is_alive(), "notify() blocked on a full notify socket"
    assert sock.recv(4096) == b"WATCHDOG=1"  # the first ones arrived


def test_watchdog_interval_is_half_of_watchdog_usec(notify_socket, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = notify_socket
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert SystemdNotifier(str(path)).watchdog_interval() == 30.0


def test_outside_systemd_everything_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = SystemdNotifier()
    assert not notifier.enabled and notifier.watchdog_interval() is None
    notifier.notify(READY=1)
