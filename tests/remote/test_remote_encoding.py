"""Remote encoding end to end: identical encodings, shared jobs, deaths, duplicates, refusals.

Real mosquitto, real ``face01d worker`` processes, real dlib models. A worker
is "mid-job" when the broker's log says it handed it the job: a worker that
was SIGSTOPped first cannot answer it, so the job is its for sure.
"""

from __future__ import annotations

import asyncio
import signal
import time

import numpy as np
import pytest
from structlog.testing import capture_logs

from face01d.remote.protocol import decode_job
from face01d.workers import ProcessWorkers, WorkerLost
from remote_helpers import ENCODE, last_stats, node, sent_to


async def until(predicate, timeout: float = 60.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def same(got, want) -> bool:  # noqa: ANN001
    return len(got) == len(want) and all(
        np.array_equal(g.encoding, w.encoding) and g.yaw == w.yaw for g, w in zip(got, want))


async def test_remote_encodings_equal_the_process_pools(mosquitto, recorder, mqtt_recorder, start_worker, kim_frame,
                                                        kim_boxes) -> None:  # noqa: ANN001
    start_worker(mosquitto, "a", recorder)
    jobs = mqtt_recorder(mosquitto, "face01/encode/jobs")  # not shared: sees every job as sent
    local, remote = ProcessWorkers(ENCODE, 1), node(mosquitto)
    await asyncio.gather(local.start(), remote.start())
    try:
        await until(lambda: remote.health()["encode"].alive == 1)
        assert remote.health()["encode"].available
        want = await local.encode("cam", kim_frame, kim_boxes)
        got = await remote.encode("cam", kim_frame, kim_boxes)
        assert same(got, want)  # bit for bit: the same crop, the same function, the same models
        assert remote.counts["answered"] == 1 and remote.counts["fallback_local"] == 0
        assert await remote.encode("cam", kim_frame, []) == []
        (job,) = jobs.messages()
        assert job.qos == 1 and not job.retain
        assert job.properties.ResponseTopic == "face01/node1/encode/answers"
        assert decode_job(job.payload).id.encode() == job.properties.CorrelationData
        assert 1 <= job.expiry <= 5  # ≤ the job's deadline (remote_timeout_s = 5 here)
    finally:
        await asyncio.gather(local.stop(), remote.stop())


async def test_two_workers_share_the_jobs_a_bounded_number_at_a_time(mosquitto, recorder, start_worker, kim_frame,
                                                              kim_boxes) -> None:  # noqa: ANN001
    workers = [start_worker(mosquitto, name, recorder) for name in ("a", "b")]
    remote = node(mosquitto, remote_timeout_s=20.0)
    await remote.start()
    try:
        await until(lambda: remote.health()["encode"].alive == 2)
        results = await asyncio.gather(*(remote.encode("cam", kim_frame, kim_boxes) for _ in range(6)))
        assert all(same(r, results[0]) for r in results)
        assert [sent_to(mosquitto, w.client_id) for w in workers] == [3, 3]  # $share: round robin
        await until(lambda: sum(last_stats(recorder, w.worker_id).get("done", 0) for w in workers) == 6)
        for worker in workers:
            stats = last_stats(recorder, worker.worker_id)
            # Receive Maximum 2 (its one process, and the next job on its way): never more at once
            assert stats["done"] > 0 and stats["peak_in_flight"] == 2
        assert remote.counts["resent"] == 0 and remote.counts["answered"] == 6
    finally:
        await remote.stop()


async def _job_held_by(stopped, mosquitto, remote, frame, boxes) -> list[asyncio.Task]:  # noqa: ANN001
    """Jobs sent until one went to ``stopped`` (round robin: the first or the second)."""
    tasks: list[asyncio.Task] = []
    while sent_to(mosquitto, stopped.client_id) == 0:
        assert len(tasks) < 3, "the broker never handed the stopped worker a job"
        tasks.append(asyncio.create_task(remote.encode("cam", frame, boxes)))
        await until(lambda: sent_to(mosquitto, stopped.client_id) == 1 or tasks[-1].done())
    return tasks


async def test_a_worker_killed_mid_job_its_job_is_resent_and_answered_once(
        mosquitto, recorder, start_worker, kim_frame, kim_boxes) -> None:  # noqa: ANN001
    a, b = start_worker(mosquitto, "a", recorder), start_worker(mosquitto, "b", recorder)
    remote = node(mosquitto, remote_timeout_s=3.0, remote_fallback="lost")  # a fallback would raise
    await remote.start()
    try:
        await until(lambda: remote.health()["encode"].alive == 2)
        a.signal(signal.SIGSTOP)
        tasks = await _job_held_by(a, mosquitto, remote, kim_frame, kim_boxes)
        a.signal(signal.SIGKILL)
        results = await asyncio.gather(*tasks)
        assert all(len(r) == 1 for r in results) and same(results[-1], results[0])
        assert remote.counts["resent"] == 1 and remote.counts["answered"] == len(tasks)
        assert sent_to(mosquitto, b.client_id) == len(tasks)  # its own, and a's again
        await until(lambda: remote.health()["encode"].alive == 1)  # a's Last Will said offline
    finally:
        await remote.stop()


async def test_a_late_second_answer_is_dropped_as_a_duplicate(mosquitto, recorder, start_worker, kim_frame,
                                                              kim_boxes) -> None:  # noqa: ANN001
    a, _ = start_worker(mosquitto, "a", recorder), start_worker(mosquitto, "b", recorder)
    remote = node(mosquitto, remote_timeout_s=3.0, remote_fallback="lost")
    await remote.start()
    try:
        await until(lambda: remote.health()["encode"].alive == 2)
        a.signal(signal.SIGSTOP)
        tasks = await _job_held_by(a, mosquitto, remote, kim_frame, kim_boxes)
        results = await asyncio.gather(*tasks)  # a's job: resent, answered by b
        a.signal(signal.SIGCONT)  # now a answers the first copy too
        await until(lambda: remote.counts["duplicate"] == 1)
        assert remote.counts["answered"] == len(tasks) and remote.counts["late"] == 0
        assert all(same(r, results[0]) for r in results)
    finally:
        await remote.stop()


async def test_a_worker_with_other_landmarks_answers_as_the_local_pool_would(
        mosquitto, recorder, start_worker, kim_frame, kim_boxes) -> None:  # noqa: ANN001
    """The node aligned the chips with its own landmarks: the worker's do not enter into it."""
    start_worker(mosquitto, "large", recorder, gallery={"landmarks": "large"})
    local, remote = ProcessWorkers(ENCODE, 1), node(mosquitto, remote_fallback="lost")
    await asyncio.gather(local.start(), remote.start())
    try:
        await until(lambda: remote.health()["encode"].alive == 1)
        got = await remote.encode("cam", kim_frame, kim_boxes)
        assert same(got, await local.encode("cam", kim_frame, kim_boxes))
        assert remote.counts["answered"] == 1 and remote.counts["refused"] == 0
    finally:
        await asyncio.gather(local.stop(), remote.stop())


async def test_a_worker_with_other_model_settings_refuses(mosquitto, recorder, start_worker, kim_frame,
                                                          kim_boxes) -> None:  # noqa: ANN001
    other = start_worker(mosquitto, "jitters2", recorder, gallery={"jitters": 2})
    remote = node(mosquitto, remote_fallback="lost")
    await remote.start()
    try:
        await until(lambda: remote.health()["encode"].alive == 1)
        with capture_logs() as logs, pytest.raises(WorkerLost, match="refused the job: model settings differ: jitters"):
            await remote.encode("cam", kim_frame, kim_boxes)
        assert remote.counts["refused"] == 1 and remote.counts["resent"] == 0
        assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["remote.encode_unavailable"]
        assert "jitters" in (remote.health()["encode"].reason or "")
        await until(lambda: last_stats(recorder, other.worker_id).get("refused") == 1)
        assert last_stats(recorder, other.worker_id)["done"] == 0
    finally:
        await remote.stop()
