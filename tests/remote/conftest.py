"""Remote encoding tests: a real mosquitto, real ``face01d worker`` processes, real dlib models.

A worker is started as a user would start it (``python -m face01d worker -c
<config> --id <name>``) and counts as up once its retained status says
online; it is SIGKILLed at teardown if still there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from face01d.config.models import DetectorConfig
from face01d.faces import FaceBox
from face01d.vision.analyzer import FaceAnalyzer
from remote_helpers import REPO_ROOT, WorkerProcess, wait_status, worker_config
from support.broker import Mosquitto, MqttRecorder


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Factory: ``start_worker(broker, "a", recorder, **workers_keys)`` → a worker whose status said online."""
    started: list[WorkerProcess] = []

    def start(broker: Mosquitto, worker_id: str, recorder: MqttRecorder, gallery: dict[str, Any] | None = None,
              env: dict[str, str] | None = None, mqtt: dict[str, Any] | None = None,
              **workers: Any) -> WorkerProcess:  # noqa: ANN401
        config = worker_config(tmp_path / f"worker-{worker_id}", broker, gallery, mqtt, **workers)
        log = tmp_path / f"worker-{worker_id}.log"
        with log.open("wb") as out:
            command = [sys.executable, "-m", "face01d", "worker", "-c", str(config), "--id", worker_id]
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                                       env={**os.environ, **(env or {})})
        worker = WorkerProcess(worker_id, process, log)
        started.append(worker)
        wait_status(recorder, worker, "online")
        return worker

    yield start
    for worker in started:
        worker.signal(signal.SIGCONT)
        worker.signal(signal.SIGKILL)
        worker.process.wait(10)


@pytest.fixture(scope="session")
def kim_frame(data) -> np.ndarray:  # noqa: ANN001
    """The sample clip's first 1080p frame (BGR, as a camera gives it)."""
    capture = cv2.VideoCapture(str(data.kim_video))
    ok, frame = capture.read()
    capture.release()
    assert ok
    return frame


@pytest.fixture(scope="session")
def kim_boxes(kim_frame: np.ndarray) -> list[FaceBox]:
    boxes = [d.box for d in FaceAnalyzer(DetectorConfig(set_width=640)).detect(kim_frame, "bgr")]
    assert len(boxes) == 1
    return boxes


@pytest.fixture
def recorder(mosquitto: Mosquitto, mqtt_recorder: Callable[..., MqttRecorder]) -> MqttRecorder:
    """Everything under face01/workers/ (statuses and counters)."""
    return mqtt_recorder(mosquitto, "face01/workers/#")
