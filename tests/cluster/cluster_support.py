"""Pieces of the many-nodes test: cameras that play a scene on demand, a broker that keeps its state over
a restart, a recorder whose session does too, nodes and workers as real processes, events counted.

A scene camera is an MJPEG server (tests/support/servers.py) that sends a
grey frame at 12 frames/s until ``play`` queues a scene (the sample clip
at 640 px, or a photo held still): each node's camera runs for the whole
test, and a "run" is one scene played on the cameras at once. That keeps
three daemons light (no 1080p decode) and lets a test count decisions run
by run without restarting anything.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from remote.remote_helpers import REPO_ROOT, WORKER_START_S, WorkerProcess, worker_config
from support.broker import Mosquitto, MqttRecorder
from support.servers import MjpegServer

FPS = 12.0
WIDTH, HEIGHT = 640, 360


def _jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


def _fit(image: np.ndarray) -> np.ndarray:
    """``image`` scaled into a WIDTH × HEIGHT grey frame, centred."""
    scale = min(WIDTH / image.shape[1], HEIGHT / image.shape[0])
    small = cv2.resize(image, (int(image.shape[1] * scale), int(image.shape[0] * scale)))
    frame = np.full((HEIGHT, WIDTH, 3), 128, np.uint8)
    top, left = (HEIGHT - small.shape[0]) // 2, (WIDTH - small.shape[1]) // 2
    frame[top:top + small.shape[0], left:left + small.shape[1]] = small
    return frame


def clip_scene(video: Path, seconds: float) -> list[bytes]:
    """The first ``seconds`` of ``video`` at FPS, 640 px wide, JPEG-encoded once."""
    capture = cv2.VideoCapture(str(video))
    step = (capture.get(cv2.CAP_PROP_FPS) or 30.0) / FPS
    frames, index, wanted = [], 0, 0.0
    while len(frames) < seconds * FPS:
        ok, image = capture.read()
        if not ok:
            break
        if index >= wanted:
            frames.append(_jpeg(_fit(image)))
            wanted += step
        index += 1
    capture.release()
    return frames


def photo_scene(photo: Path, seconds: float) -> list[bytes]:
    """A photo held still for ``seconds`` (a still photo is recognised: no liveness on these cameras)."""
    image = cv2.imread(str(photo))
    assert image is not None, photo
    return [_jpeg(_fit(image))] * int(seconds * FPS)


class SceneCamera(MjpegServer):
    """An MJPEG camera showing an empty grey room until a scene is played (once)."""

    def __init__(self) -> None:
        super().__init__([_jpeg(np.full((HEIGHT, WIDTH, 3), 128, np.uint8))], FPS)
        self._queue: collections.deque[bytes] = collections.deque()
        self._lock = threading.Lock()

    def play(self, frames: Iterable[bytes]) -> None:
        with self._lock:
            self._queue.extend(frames)

    @property
    def playing(self) -> bool:
        with self._lock:
            return bool(self._queue)

    def _next(self) -> bytes:
        with self._lock:
            return self._queue.popleft() if self._queue else self.frames[0]

    def _stream(self, out) -> None:  # noqa: ANN001 - the handler's wfile
        while not self.stopping.is_set():
            jpeg = self._next()
            out.write(f"--frameboundary\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                      + jpeg + b"\r\n")
            out.flush()
            self.stopping.wait(1 / self.fps)


@dataclass
class PersistentMosquitto(Mosquitto):
    """A mosquitto that saves retained messages and sessions when stopped and loads them when started:
    a broker restart as a real deployment has it."""

    def _write_conf(self) -> None:
        super()._write_conf()
        text = self.conf.read_text().replace("persistence false", "persistence true")
        self.conf.write_text(text + f"persistence_location {self.workdir}/\n")


class SessionRecorder(MqttRecorder):
    """A recorder with a persistent session: what is published while the broker restarts and this client
    reconnects is queued for it, not lost to the test."""

    def connect(self, timeout: float = 10.0) -> SessionRecorder:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 3600
        self._client.reconnect_delay_set(min_delay=1, max_delay=1)
        self._client.connect(self.broker.host, self.broker.port, keepalive=30, clean_start=False,
                             properties=properties)
        self._client.loop_start()
        if not self._subscribed.wait(timeout):
            raise TimeoutError(f"recorder not subscribed to {self.topic_filter!r} within {timeout} s")
        return self


def until(condition: Callable[[], object], timeout: float, what: str, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(step)


def start_worker(folder: Path, broker: Mosquitto, worker_id: str) -> WorkerProcess:
    """``face01d worker --id <worker_id>`` as a user starts it (it says online on its retained status)."""
    config = worker_config(folder / f"worker-{worker_id}", broker)
    log = folder / f"worker-{worker_id}-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "face01d", "worker", "-c", str(config), "--id", worker_id],
                                   stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=dict(os.environ))
    return WorkerProcess(worker_id, process, log)


def wait_online(recorder: MqttRecorder, worker: WorkerProcess, since: int = 0) -> None:
    """The worker's retained status said online in a message after the ``since``-th one."""
    topic = f"face01/workers/{worker.worker_id}/status"

    def online() -> bool:
        if worker.process.poll() is not None:
            raise AssertionError(f"worker {worker.worker_id} exited: {worker.output()[-2000:]}")
        return any(m.topic == topic and '"state": "online"' in m.text for m in recorder.messages()[since:])

    until(online, WORKER_START_S, f"worker {worker.worker_id} online")


def end_worker(worker: WorkerProcess) -> None:
    worker.signal(signal.SIGCONT)
    worker.signal(signal.SIGKILL)
    worker.process.wait(10)


def events(recorder: MqttRecorder, node: str, since: int = 0) -> list[dict[str, Any]]:
    """The node's events (every camera) among the recorder's messages after the ``since``-th."""
    prefix = f"face01/{node}/"
    return [json.loads(m.text) for m in recorder.messages()[since:]
            if m.topic.startswith(prefix) and m.topic.endswith("/event")]


def recognized(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event for event in found if event["type"] == "recognized"]
