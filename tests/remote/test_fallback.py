"""When no worker answers: encode locally or lose the look, as configured, and say so once.

Each test checks the three places that say it: the log (one warning per
outage, one line when answers come back), the counters, and the health
view that /readyz reads.
"""

from __future__ import annotations

import asyncio
import signal
import time

import numpy as np
import pytest
from structlog.testing import capture_logs

from face01d.workers import ProcessWorkers, WorkerLost
from remote_helpers import ENCODE, node
from support.ports import free_port


async def until(predicate, timeout: float = 60.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def warnings_of(logs: list[dict]) -> list[str]:
    return [entry["event"] for entry in logs if entry["log_level"] == "warning"]


async def test_no_worker_online_falls_back_to_local_encoding_at_once(
        mosquitto, kim_frame, kim_boxes) -> None:  # noqa: ANN001
    reference = ProcessWorkers(ENCODE, 1)
    remote = node(mosquitto, fallback=ProcessWorkers(ENCODE, 1), remote_timeout_s=5.0)
    await asyncio.gather(reference.start(), remote.start())
    try:
        await asyncio.sleep(0.6)  # the retained statuses (none) have had their time
        with capture_logs() as logs:
            started = time.monotonic()
            got = [await remote.encode("cam", kim_frame, kim_boxes) for _ in range(2)]
            waited = time.monotonic() - started
        want = await reference.encode("cam", kim_frame, kim_boxes)
        assert all(np.array_equal(g[0].encoding, want[0].encoding) for g in got)
        assert waited < 5.0  # nobody online: no deadline is waited for
        assert warnings_of(logs) == ["remote.encode_unavailable"]  # once, not per look
        assert remote.counts["fallback_local"] == 2 and remote.counts["sent"] == 0
        health = remote.health()["encode"]  # looks are still encoded: available, with no worker alive
        assert health.available and (health.alive, health.wanted) == (0, 1)
        assert remote.problem == remote.stats["problem"] == \
            "remote encoding: no worker of group 'face01d-encoders' online"
    finally:
        await asyncio.gather(reference.stop(), remote.stop())


async def test_fallback_lost_raises_worker_lost(mosquitto, kim_frame, kim_boxes) -> None:  # noqa: ANN001
    remote = node(mosquitto, remote_fallback="lost")
    await remote.start()
    try:
        await asyncio.sleep(0.6)
        with pytest.raises(WorkerLost, match="no worker of group"):
            await remote.encode("cam", kim_frame, kim_boxes)
        assert remote.counts["lost"] == 1
        health = remote.health()["encode"]  # nobody can be recognised: /readyz says why
        assert not health.available
        assert health.reason == "remote encoding: no worker of group 'face01d-encoders' online; looks are lost"
    finally:
        await remote.stop()


async def test_broker_unreachable_falls_back_and_says_why(kim_frame, kim_boxes, tmp_path) -> None:  # noqa: ANN001
    from support.broker import Mosquitto  # noqa: PLC0415

    nowhere = Mosquitto(tmp_path, port=free_port())  # never started: nothing listens there
    remote = node(nowhere, remote_fallback="lost")
    await remote.start()  # returns after a short wait: the daemon starts without its broker
    try:
        with pytest.raises(WorkerLost, match="not connected to the MQTT broker"):
            await remote.encode("cam", kim_frame, kim_boxes)
        assert remote.health()["encode"].reason == \
            "remote encoding: not connected to the MQTT broker; looks are lost"
    finally:
        await remote.stop()


async def test_a_look_asked_for_after_stop_is_lost_not_an_error(
        mosquitto, kim_frame, kim_boxes) -> None:  # noqa: ANN001
    """A camera's last look may still be on its way while the daemon shuts down: it is lost, as a pool's is."""
    remote = node(mosquitto, remote_fallback="lost")
    await remote.start()
    await remote.stop()
    with pytest.raises(WorkerLost, match="not running"):
        await remote.encode("cam", kim_frame, kim_boxes)


async def test_an_unanswering_worker_times_out_then_answers_come_back(
        mosquitto, recorder, start_worker, kim_frame, kim_boxes) -> None:  # noqa: ANN001
    worker = start_worker(mosquitto, "a", recorder)
    remote = node(mosquitto, fallback=ProcessWorkers(ENCODE, 1), remote_timeout_s=0.5)
    await remote.start()
    try:
        await until(lambda: remote.health()["encode"].alive == 1)
        worker.signal(signal.SIGSTOP)  # online to the broker, answering nothing
        with capture_logs() as logs:
            faces = await remote.encode("cam", kim_frame, kim_boxes)
            assert len(faces) == 1 and remote.counts["fallback_local"] == 1
            assert remote.counts["sent"] == 1 and remote.counts["resent"] == 1 and remote.counts["timed_out"] == 1
            assert remote.problem == "remote encoding: no worker answered within 2 × 0.5 s"
            assert remote.health()["encode"].available  # encoded locally meanwhile
            worker.signal(signal.SIGCONT)
            await until(lambda: remote.counts["late"] >= 1)  # its answers came after the look was encoded here
            remote_faces = await _answered_remotely(remote, kim_frame, kim_boxes)
        assert np.array_equal(remote_faces[0].encoding, faces[0].encoding)
        events = [entry["event"] for entry in logs]
        assert events.count("remote.encode_unavailable") == 1 and events.count("remote.encode_restored") == 1
        assert remote.problem is None
    finally:
        await remote.stop()


async def _answered_remotely(remote, frame, boxes):  # noqa: ANN001, ANN202
    """Encode until a look is answered by the worker (it may still be busy with the resent copy)."""
    for _ in range(5):
        answered = remote.counts["answered"]
        faces = await remote.encode("cam", frame, boxes)
        if remote.counts["answered"] > answered:
            return faces
    raise AssertionError(f"never answered remotely: {remote.counts}")
