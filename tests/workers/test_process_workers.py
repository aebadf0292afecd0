"""ProcessWorkers with the real models: same answers as threads, deaths, hangs, fairness, clean stops.

Each test starts its own small pool (about a second on the 2-core machines:
the forkserver has face01d imported already, so a worker only loads its models).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from structlog.testing import capture_logs

from face01d.config.models import DetectorConfig, DetectorKind
from face01d.errors import ModelError
from face01d.faces import FaceBox
from face01d.vision.image import load_image
from face01d.workers import PoolHealth, ProcessWorkers, ThreadWorkers, VisionSettings, WorkerLost
from face01d.workers import processes
from face01d.workers.shm import SHM_PREFIX, crop_around

SETTINGS = VisionSettings(DetectorConfig(kind=DetectorKind.HOG, upsampling=1, set_width=640))
REPO_ROOT = Path(__file__).resolve().parents[2]


def bgr(path: Path) -> np.ndarray:
    """Workers take BGR, as cameras give it."""
    return load_image(path)[:, :, ::-1].copy()


@pytest.fixture(scope="module")
def images(data) -> dict[str, np.ndarray]:  # noqa: ANN001
    capture = cv2.VideoCapture(str(data.kim_video))
    ok, frame = capture.read()
    capture.release()
    assert ok
    return {
        "obama": bgr(data.fr_test_images / "obama.jpg"),
        "two_people": bgr(data.fr_examples / "two_people.jpg"),
        "kim_1080p": frame,
    }


def our_blocks() -> list[str]:
    return [name for name in os.listdir("/dev/shm") if name.startswith(f"{SHM_PREFIX}{os.getpid()}_")]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_same_answers_as_threads(images) -> None:  # noqa: ANN001
    threads, processes = ThreadWorkers(SETTINGS, 1), ProcessWorkers(SETTINGS, 1)
    await asyncio.gather(threads.start(), processes.start())
    try:
        for name, image in images.items():
            want = await threads.detect(name, image)
            got = await processes.detect(name, image)
            assert got == want and len(want) == (2 if name == "two_people" else 1), name
            boxes = [d.box for d in want]
            want_faces, got_faces = await threads.encode(name, image, boxes), await processes.encode(name, image, boxes)
            np.testing.assert_allclose([f.encoding for f in got_faces], [f.encoding for f in want_faces], atol=1e-6)
            np.testing.assert_allclose([f.yaw for f in got_faces], [f.yaw for f in want_faces], atol=1e-9)
        assert await processes.encode("none", images["obama"], []) == []
    finally:
        await asyncio.gather(threads.stop(), processes.stop())


def test_crop_keeps_a_margin_and_stops_at_the_frame() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    crop, (shifted,) = crop_around(image, [FaceBox(top=40, right=120, bottom=60, left=100)])
    assert crop.shape == (62, 62, 3)  # 20 px face, 21 px on each side
    assert shifted == FaceBox(top=21, right=41, bottom=41, left=21)
    crop, (shifted,) = crop_around(image, [FaceBox(top=0, right=200, bottom=50, left=150)])
    assert crop.shape == (100, 101, 3) and shifted == FaceBox(top=0, right=101, bottom=50, left=51)


async def test_a_killed_worker_loses_its_job_only(images) -> None:  # noqa: ANN001
    image = images["two_people"]
    pool = ProcessWorkers(SETTINGS, 2)
    await pool.start()
    try:
        boxes = [d.box for d in await pool.detect("victim", image)]
        victim = asyncio.create_task(pool.encode("victim", image, boxes))
        other = asyncio.create_task(pool.encode("other", image, boxes))
        pid = await _busy_with(pool, "victim")
        await asyncio.sleep(0.03)  # in the middle of dlib's work (two faces: ~200 ms)
        with capture_logs() as logs:
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(WorkerLost, match=str(pid)):
                await victim
        assert len(await other) == 2  # the other camera's job, on the other worker, went on
        assert len(await pool.encode("victim", image, boxes)) == 2  # the next call works
        await _until(lambda: len(pool.pids) == 2 and pid not in pool.pids)
        died = [entry for entry in logs if entry["event"] == "vision worker died"]
        assert died and died[0]["pid"] == pid and died[0]["exit_code"] == -signal.SIGKILL
        assert died[0]["log_level"] == "warning" and died[0]["camera"] == "victim"
    finally:
        await pool.stop()


async def test_a_hung_worker_is_killed_reaped_and_replaced(images, monkeypatch) -> None:  # noqa: ANN001
    """SIGSTOP in the middle of an encoding: the worker neither answers nor dies. After JOB_TIMEOUT_S
    the job fails, the worker is killed and reaped, and a replacement does the next job."""
    image = images["two_people"]
    pool = ProcessWorkers(SETTINGS, 1)
    await pool.start()
    try:
        boxes = [d.box for d in await pool.detect("stuck", image)]
        monkeypatch.setattr(processes, "JOB_TIMEOUT_S", 1.0)
        stuck = asyncio.create_task(pool.encode("stuck", image, boxes))
        pid = await _busy_with(pool, "stuck")
        await asyncio.sleep(0.03)  # in the middle of dlib's work (two faces: ~200 ms)
        with capture_logs() as logs:
            os.kill(pid, signal.SIGSTOP)
            stopped = time.monotonic()
            with pytest.raises(WorkerLost, match=f"vision worker {pid} timed out after 1 s"):
                await stuck
            assert 0.8 < time.monotonic() - stopped < 10
            monkeypatch.setattr(processes, "JOB_TIMEOUT_S", 30.0)  # the next job may be slow on a busy machine
            assert len(await pool.encode("stuck", image, boxes)) == 2
            (replacement,) = pool.pids
            await _until(lambda: "vision worker replaced" in [entry["event"] for entry in logs])
        assert replacement != pid and gone(pid) and not Path(f"/proc/{pid}").exists()  # killed and reaped
        assert [p.pid for p in multiprocessing.active_children()] == [replacement]
        hung = [entry for entry in logs if entry["event"] == "vision worker hung"]
        assert len(hung) == 1 and hung[0]["log_level"] == "warning"
        assert hung[0]["pid"] == pid and hung[0]["camera"] == "stuck" and hung[0]["timeout_s"] == 1.0
        assert not [entry for entry in logs if entry["event"] == "vision worker died"]  # warned once, not twice
    finally:
        await pool.stop()


@contextlib.contextmanager
def no_free_descriptors():
    """RLIMIT_NOFILE lowered to the lowest free descriptor: from here on every new one fails with EMFILE,
    as in a daemon whose descriptors idle HTTP clients hold. The limit is restored on leaving."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    probe = os.open("/dev/null", os.O_RDONLY)  # the lowest free number: all below it are in use
    os.close(probe)
    resource.setrlimit(resource.RLIMIT_NOFILE, (probe, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_a_worker_that_cannot_be_replaced_is_tried_again_until_it_can(images, monkeypatch) -> None:  # noqa: ANN001
    """The only worker is killed at the descriptor limit: its replacement cannot start (EMFILE). The pool
    says so (health; jobs fail at once instead of queuing) and tries again with backoff, logging once;
    with descriptors free again the next try brings it back."""
    monkeypatch.setattr(processes, "REPLACE_BACKOFF_START_S", 0.05)
    monkeypatch.setattr(processes, "REPLACE_BACKOFF_CAP_S", 0.2)
    pool = ProcessWorkers(SETTINGS, 1)
    await pool.start()
    try:
        (pid,) = pool.pids
        assert pool.health() == {"detect+encode": PoolHealth(alive=1, wanted=1)}
        with capture_logs() as logs:
            with no_free_descriptors():
                os.kill(pid, signal.SIGKILL)
                await _until(lambda: pool.health()["detect+encode"].failed_starts >= 3)  # tried, and again
                health = pool.health()["detect+encode"]
                assert health.alive == 0 and not health.available and "Too many open files" in health.reason
                started = time.monotonic()
                with pytest.raises(WorkerLost, match="no vision worker"):
                    await pool.detect("a", images["obama"])
                assert time.monotonic() - started < 0.5  # at once: no waiting for a worker that is not coming
            await _until(lambda: pool.health()["detect+encode"].available)
            assert len(await pool.detect("a", images["obama"])) == 1
            assert pool.health()["detect+encode"].alive == 1 and pid not in pool.pids
        failed = [entry for entry in logs if entry["event"] == "vision worker could not be replaced"]
        assert len(failed) == 1 and failed[0]["log_level"] == "error"  # then one line a minute at most
        assert "Too many open files" in failed[0]["error"]
        [replaced] = [entry for entry in logs if entry["event"] == "vision worker replaced"]
        assert replaced["attempts"] >= 4 and replaced["unavailable_s"] is not None
    finally:
        await pool.stop()


async def test_jobs_wait_for_the_replacement_of_a_worker_that_left(images) -> None:  # noqa: ANN001
    """SIGTERM to the only worker: it leaves quietly (exit code 0) and the pool waits a moment for a
    group-wide stop before replacing it; a job submitted meanwhile waits instead of failing."""
    pool = ProcessWorkers(SETTINGS, 1)
    await pool.start()
    try:
        (pid,) = pool.pids
        with capture_logs() as logs:
            os.kill(pid, signal.SIGTERM)
            await _until(lambda: pid not in pool.pids)
            assert len(await pool.detect("a", images["obama"])) == 1
        exited = [entry for entry in logs if entry["event"] == "vision worker exited"]
        assert exited and exited[0]["exit_code"] == 0 and exited[0]["log_level"] == "info"
        assert len(pool.pids) == 1 and pid not in pool.pids
    finally:
        await pool.stop()


async def test_a_busy_camera_does_not_starve_another(images) -> None:  # noqa: ANN001
    """One worker; "busy" queues six frames at once, then "quiet" one: quiet is served third at the latest."""
    pool = ProcessWorkers(SETTINGS, 1)
    await pool.start()
    done: list[str] = []

    async def detect(camera: str) -> None:
        await pool.detect(camera, images["obama"])
        done.append(camera)

    try:
        busy = [asyncio.create_task(detect("busy")) for _ in range(6)]
        await asyncio.sleep(0.01)
        await asyncio.gather(detect("quiet"), *busy)
    finally:
        await pool.stop()
    assert len(done) == 7 and "quiet" in done[:3], done  # first come, first served would make it 7th


async def test_stop_leaves_no_block_and_no_process(images) -> None:  # noqa: ANN001
    pool = ProcessWorkers(SETTINGS, 1)
    await pool.start()
    pids = pool.pids
    boxes = [d.box for d in await pool.detect("a", images["two_people"])]
    await pool.detect("b", images["obama"])
    await pool.encode("a", images["two_people"], boxes)
    assert len(our_blocks()) == 3  # detect a, detect b, encode a: the check below is not vacuous
    in_flight = asyncio.create_task(pool.encode("b", images["two_people"], boxes))
    await _busy_with(pool, "b")
    started = time.monotonic()
    await pool.stop()
    assert time.monotonic() - started < 5
    with pytest.raises(WorkerLost):
        await in_flight
    assert our_blocks() == []
    assert all(gone(pid) for pid in pids) and multiprocessing.active_children() == []
    with pytest.raises(WorkerLost):
        await pool.detect("a", images["obama"])
    await pool.stop()  # twice is harmless


async def test_models_that_cannot_load_are_a_model_error() -> None:
    broken = DetectorConfig.model_construct(kind=DetectorKind.MEDIAPIPE, mediapipe_model="huge")
    pool = ProcessWorkers(VisionSettings(broken), 2)
    with pytest.raises(ModelError, match="cannot load its models: ValueError: .*'huge'"):
        await pool.start()
    assert our_blocks() == [] and multiprocessing.active_children() == []


_GROUP_SCRIPT = textwrap.dedent(
    """
    import asyncio
    from face01d.config.models import DetectorConfig
    from face01d.workers import ProcessWorkers, VisionSettings

    async def main():
        pool = ProcessWorkers(VisionSettings(DetectorConfig()), 1)
        await pool.start()
        print("pids", *pool.pids, flush=True)
        try:
            await asyncio.sleep(60)
        finally:
            await pool.stop()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    """
)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_process_group_prints_no_traceback(signum: int) -> None:
    """Ctrl-C (SIGINT) or SIGTERM to the whole group: the workers go without a word."""
    daemon = subprocess.Popen(
        [sys.executable, "-c", _GROUP_SCRIPT], cwd=REPO_ROOT, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = next((line for line in daemon.stdout if line.startswith("pids ")), "")
        pids = [int(pid) for pid in line.split()[1:]]
        assert len(pids) == 1, daemon.stderr.read()
        os.killpg(daemon.pid, signum)
        _, errors = daemon.communicate(timeout=20)
    finally:
        daemon.kill()
    assert "Traceback" not in errors and "KeyboardInterrupt" not in errors, errors
    deadline = time.monotonic() + 5
    while not all(gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(gone(pid) for pid in pids)


async def _busy_with(pool: ProcessWorkers, camera: str) -> int:
    """The pid of the worker that has ``camera``'s job."""
    await _until(lambda: camera in [c for c, _ in pool.jobs.values()])
    return next(pid for pid, (c, _) in pool.jobs.items() if c == camera)


async def _until(condition, timeout: float = 20.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)
