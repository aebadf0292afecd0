"""The server inside a real daemon (no cameras, no MQTT): up before the gallery, ready after, gone after the stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from face01d.app import Daemon
from face01d.config.models import (Config, DaemonConfig, DetectorConfig, GalleryConfig, HttpConfig, MqttConfig,
                                   SnapshotConfig, WorkersConfig)
from face01d.sinks.base import Sink
from face01d.sinks.outputs import Outputs


async def wait_for(condition, timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_the_daemon_serves_health_and_metrics_until_it_stops(data, tmp_path: Path) -> None:
    config = Config(daemon=DaemonConfig(lock_file=tmp_path / "lock"),
                    gallery=GalleryConfig(path=data.face01_gallery, cache_dir=tmp_path / "cache"),
                    detector=DetectorConfig(kind="mediapipe"), workers=WorkersConfig(detect="thread", encode="thread",
                                                                                    threads=1),
                    mqtt=MqttConfig(enabled=False), snapshots=SnapshotConfig(enabled=False),
                    http=HttpConfig(enabled=True, port=0))
    daemon = Daemon(config, None, once=False, stdout_events=False)
    run = asyncio.create_task(daemon.run())
    await wait_for(lambda: daemon.http_port is not None or run.done())
    assert daemon.http_port is not None
    base = f"http://127.0.0.1:{daemon.http_port}"
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        assert (await client.get("/healthz")).status_code == 200
        await wait_for(lambda: daemon.readiness.ready or run.done())
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        people = len(daemon.recognizer.gallery.people)
        assert f"face01d_gallery_people {float(people)}" in (await client.get("/metrics")).text
    daemon.request_stop("test")  # /readyz answers 503 from here on (see test_http); the reply races the shutdown
    assert (daemon.readiness.ready, daemon.readiness.reason) == (False, "stopping (test)")
    assert await asyncio.wait_for(run, 60) == 0
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            await client.get("/healthz")


class StatsRecorder(Sink):
    """An output that keeps the stats payloads it was given (MqttSink publishes them)."""

    def __init__(self) -> None:
        self.payloads: list[dict] = []

    def publish_stats(self, payload: dict) -> None:
        self.payloads.append(payload)


async def test_the_stats_loop_publishes_the_metrics_payload() -> None:
    daemon = Daemon(Config(mqtt=MqttConfig(enabled=False)), None, once=False, stdout_events=False)
    recorder = StatsRecorder()
    loop = asyncio.create_task(daemon.supervisor.stats_loop(0.01, Outputs([recorder])))
    try:
        await wait_for(lambda: len(recorder.payloads) >= 2, 5)
    finally:
        loop.cancel()
    assert set(recorder.payloads[0]) == {"at", "cameras", "events", "mqtt", "snapshots", "gallery", "outputs", "vision",
                                         "remote_encode", "http"}


class FailingStats(Sink):
    """An output whose stats publishing breaks every time."""

    calls = 0

    def publish_stats(self, payload: dict) -> None:
        self.calls += 1
        raise RuntimeError("broken")


async def test_a_failing_stats_output_is_logged_once_and_the_others_still_get_their_stats() -> None:
    daemon = Daemon(Config(mqtt=MqttConfig(enabled=False)), None, once=False, stdout_events=False)
    failing, recorder = FailingStats(), StatsRecorder()
    outputs = Outputs([failing, recorder])
    with capture_logs() as logs:
        loop = asyncio.create_task(daemon.supervisor.stats_loop(0.01, outputs))
        await wait_for(lambda: failing.calls >= 3, 5)
    assert not loop.done()
    loop.cancel()
    assert len(recorder.payloads) >= 3 and outputs.failures >= 3
    assert [entry["output"] for entry in logs if entry["event"] == "output failed"] == ["FailingStats"]
