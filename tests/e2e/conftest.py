"""End-to-end fixtures: the real ``face01d run`` process against a real broker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from support.event_schema import parse_event, validate_event
from support.toml_text import render_config


class DaemonProcess:
    """``python -m face01d run`` in a subprocess, stdout/stderr captured to files.

    ``launcher`` replaces ``-m face01d``: ``-c`` code that shortens a module's timing constants first.
    """

    def __init__(self, config_path: Path, args: tuple[str, ...] = ("--stdout",), env: dict[str, str] | None = None,
                 launcher: Sequence[str] = ("-m", "face01d")) -> None:
        self.config_path = config_path
        self.stdout_path = config_path.with_suffix(".stdout")
        self.stderr_path = config_path.with_suffix(".stderr")
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, *launcher, "run", "-c", str(config_path), *args],
                stdout=out, stderr=err, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            )

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8")

    def events(self) -> list[dict[str, Any]]:
        """The events printed so far, each checked against face01d/events/event.schema.json."""
        return [parse_event(line) for line in self.stdout.splitlines() if line.strip()]

    def logs(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stderr.splitlines() if line.startswith("{")]

    def wait_for_log(self, event: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [record for record in self.logs() if record.get("event") == event]
            if found:
                return found[0]
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no log {event!r} within {timeout} s (exit {self.process.poll()}):\n{self.stderr[-3000:]}")

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"daemon still running after {timeout} s:\n{self.stderr[-3000:]}") from None

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture(scope="session")
def gallery_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One gallery cache for the whole session, so each daemon starts quickly."""
    return tmp_path_factory.mktemp("gallery-cache")


@pytest.fixture
def daemon_config(tmp_path: Path, data, gallery_cache: Path) -> Callable[..., Path]:
    """Write a config for the FACE01 sample gallery; override any section or key."""

    def make(cameras: list[dict[str, object]], broker=None, **sections: dict[str, object]) -> Path:
        base: dict[str, dict[str, object]] = {
            "daemon": {"node_id": "e2e", "log_format": "json", "shutdown_timeout_s": 5.0,
                       "lock_file": str(tmp_path / "face01d.lock")},
            "gallery": {"path": str(data.face01_gallery), "cache_dir": str(gallery_cache)},
            "detector": {"kind": "hog", "upsampling": 1, "set_width": 640},
            "mqtt": {"enabled": broker is not None, "host": "127.0.0.1", "port": broker.port if broker else 1,
                     "topic_prefix": "face01", "outbox_path": str(tmp_path / "outbox.sqlite3")},
            "snapshots": {"dir": str(tmp_path / "snapshots"), "save_face": True, "save_frame": True},
            "events": {"cooldown_s": 30.0, "presence_timeout_s": 3.0},
        }
        for name, values in sections.items():
            base.setdefault(name, {}).update(values)
        path = tmp_path / "config.toml"
        path.write_text(render_config(base, cameras), encoding="utf-8")
        return path

    return make


@pytest.fixture
def run_daemon() -> Iterator[Callable[..., DaemonProcess]]:
    """Start daemons; every one still running is killed at teardown."""
    started: list[DaemonProcess] = []

    def start(config_path: Path, *args: str, env: dict[str, str] | None = None,
              launcher: Sequence[str] = ("-m", "face01d")) -> DaemonProcess:
        daemon = DaemonProcess(config_path, args or ("--stdout",), env, launcher)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


def is_event_topic(topic: str) -> bool:
    """``<prefix>/<node>/<camera>/event``: where recognition events are published."""
    return topic.endswith("/event")


@pytest.fixture
def mqtt_recorder(mqtt_recorder: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """tests/support's recorder factory; at teardown, every event it received is checked against the schema."""
    recorders: list[Any] = []

    def make(*args: Any, **kwargs: Any) -> Any:
        recorder = mqtt_recorder(*args, **kwargs)
        recorders.append(recorder)
        return recorder

    yield make
    for recorder in recorders:
        for message in recorder.messages():
            if is_event_topic(message.topic):
                validate_event(json.loads(message.text))
