"""Helpers of the remote encoding tests: worker processes, their configs, what the broker says."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from face01d.config.models import DetectorConfig, MqttConfig, WorkersConfig
from face01d.remote.node import RemoteEncoder
from face01d.workers import ProcessWorkers, VisionSettings
from support.broker import Mosquitto, MqttRecorder
from support.toml_text import render_config

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_START_S = 120.0  # python, face01d, the forkserver and the models, on a busy 2-core machine
ENCODE = VisionSettings(DetectorConfig(), stages=("encode",))

@dataclass
class WorkerProcess:
    worker_id: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def client_id(self) -> str:
        return f"face01d-worker-{self.worker_id}"

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signum)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def worker_config(folder: Path, broker: Mosquitto, gallery: dict[str, Any] | None = None,
                  mqtt: dict[str, Any] | None = None, **workers: Any) -> Path:  # noqa: ANN401
    """A worker's config.toml: the broker, one process, counters every half second."""
    folder.mkdir(parents=True, exist_ok=True)
    sections = {"mqtt": {"host": broker.host, "port": broker.port, **(mqtt or {})},
                "workers": {"processes": 1, "remote_stats_s": 0.5, **workers},
                "gallery": {"path": str(folder / "gallery"), **(gallery or {})}}
    path = folder / "config.toml"
    path.write_text(render_config(sections, []), encoding="utf-8")
    return path


def wait_status(recorder: MqttRecorder, worker: WorkerProcess, state: str, timeout: float = WORKER_START_S) -> None:
    topic = f"face01/workers/{worker.worker_id}/status"
    deadline = time.monotonic() + timeout
    while not any(f'"state": "{state}"' in m.text for m in recorder.messages() if m.topic == topic):
        if worker.process.poll() is not None and state == "online":
            raise AssertionError(f"worker {worker.worker_id} exited {worker.process.returncode}: {worker.output()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"worker {worker.worker_id} not {state} after {timeout} s: {worker.output()}")
        time.sleep(0.05)


def node(broker: Mosquitto, fallback: ProcessWorkers | None = None, node_id: str = "node1",
         mqtt: dict[str, Any] | None = None, **workers: Any) -> RemoteEncoder:  # noqa: ANN401
    config = WorkersConfig(encode="remote", **{"remote_timeout_s": 5.0, **workers})
    link = MqttConfig(host=broker.host, port=broker.port, **(mqtt or {}))
    return RemoteEncoder(config, ENCODE, link, node_id, fallback)


def sent_to(broker: Mosquitto, client_id: str) -> int:
    """Jobs the broker has handed to this client (its log says each PUBLISH it sends)."""
    return sum(1 for line in broker.log().splitlines()
               if f"Sending PUBLISH to {client_id} " in line and "'face01/encode/jobs'" in line)


def last_stats(recorder: MqttRecorder, worker_id: str) -> dict[str, Any]:
    topic = f"face01/workers/{worker_id}/stats"
    payloads = [m.text for m in recorder.messages() if m.topic == topic]
    return json.loads(payloads[-1]) if payloads else {}
