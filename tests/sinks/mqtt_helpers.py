"""Helpers shared by the MQTT sink tests: a sink factory with short timings, events."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from face01d.config.models import MqttConfig
from face01d.events.model import Event, EventType
from face01d.sinks import mqtt
from face01d.sinks.mqtt import MqttSink
from face01d.faces import FaceBox

NODE = "node1"
CAMERAS = ["door", "玄関"]
PEOPLE = ["金正恩", "Alice"]

SinkFactory = Callable[..., MqttSink]


def make_event(index: int, camera: str = "door", name: str = "金正恩") -> Event:
    return Event(
        type=EventType.RECOGNIZED,
        node=NODE,
        camera=camera,
        name=name,
        captured_at=time.time(),
        distance=0.41234,
        percentage=98.5,
        box=FaceBox(10, 60, 70, 5),
        frame_width=640,
        frame_height=480,
        id=f"event-{index:04d}",
    )


def event_ids(messages: list[Any], topic: str = f"face01/{NODE}/door/event") -> list[str]:
    return [json.loads(m.payload)["id"] for m in messages if m.topic == topic]


@pytest.fixture
def fast_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reconnect quickly so resilience tests take seconds, not minutes."""
    monkeypatch.setattr(mqtt, "RECONNECT_MIN_S", 0.05)
    monkeypatch.setattr(mqtt, "RECONNECT_MAX_S", 0.3)
    monkeypatch.setattr(mqtt, "CLIENT_TIMEOUT_S", 5.0)


@pytest.fixture
async def make_sink(fast_timing: None, tmp_path: Path) -> AsyncIterator[SinkFactory]:
    """``make_sink(port, **mqtt_config)`` → a started-later MqttSink, stopped at teardown;
    its outbox is this test's own unless ``outbox_path`` says otherwise."""
    sinks: list[MqttSink] = []

    def make(port: int, presence_expire_s: float = 10.0, **overrides: Any) -> MqttSink:
        overrides.setdefault("outbox_path", tmp_path / "state" / "outbox.sqlite3")
        config = MqttConfig(port=port, **overrides)
        sink = MqttSink(config, NODE, CAMERAS, PEOPLE, presence_expire_s=presence_expire_s)
        sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        await sink.stop(timeout=3.0)


async def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    """Poll a condition without blocking the loop."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
