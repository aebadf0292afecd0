"""make_workers: the pools that [workers] asks for, and a split pool that routes each stage."""

from __future__ import annotations

import os

import numpy as np

from face01d.config.models import DetectorConfig, WorkersConfig
from face01d.vision.image import load_image
from face01d.workers import ProcessWorkers, SplitWorkers, ThreadWorkers, VisionSettings, make_workers
from face01d.workers.factory import ENCODER_NICENESS, thread_count

SETTINGS = VisionSettings(DetectorConfig(set_width=640))


def test_one_pool_when_both_stages_run_in_the_same_place() -> None:
    threads = make_workers(WorkersConfig(detect="thread", encode="thread", threads=3), SETTINGS)
    processes = make_workers(WorkersConfig(detect="process", encode="process", processes=2), SETTINGS)
    assert isinstance(threads, ThreadWorkers) and threads.threads == 3
    assert isinstance(processes, ProcessWorkers) and processes.processes == 2 and processes.settings == SETTINGS


def test_detection_threads_default_to_one_per_camera_within_bounds() -> None:
    cores = os.cpu_count() or 1
    assert thread_count(WorkersConfig(), cameras=1) == min(16, cores)  # at least one per core
    assert thread_count(WorkersConfig(), cameras=cores + 3) == min(16, cores + 3)  # a camera never waits for a thread
    assert thread_count(WorkersConfig(), cameras=200) == 16  # at most 16
    assert thread_count(WorkersConfig(threads=3), cameras=40) == 3  # said in the config: as said
    split = make_workers(WorkersConfig(detect="thread", encode="process"), SETTINGS, cameras=cores + 1)
    assert isinstance(split, SplitWorkers) and split.detector.threads == min(16, cores + 1)


def test_split_pools_follow_the_config() -> None:
    split = make_workers(WorkersConfig(detect="process", encode="thread", threads=2, processes=1), SETTINGS)
    assert isinstance(split, SplitWorkers)
    assert isinstance(split.detector, ProcessWorkers) and isinstance(split.encoder, ThreadWorkers)


async def test_split_pool_detects_on_threads_and_encodes_in_a_process(data) -> None:  # noqa: ANN001
    image = load_image(data.fr_test_images / "obama.jpg")[:, :, ::-1].copy()
    split = make_workers(WorkersConfig(detect="thread", encode="process", threads=1, processes=1), SETTINGS)
    assert isinstance(split, SplitWorkers)
    await split.start()
    try:
        detections = await split.detect("cam", image)
        faces = await split.encode("cam", image, [d.box for d in detections])
        assert split.encoder.pids and not split.encoder.jobs  # the process pool did the encoding and is idle
        # the encoder yields to capture and detection when the cores are busy; the daemon keeps its own
        assert [os.getpriority(os.PRIO_PROCESS, pid) for pid in split.encoder.pids] == [
            os.getpriority(os.PRIO_PROCESS, 0) + ENCODER_NICENESS]
        direct = await split.detector.encode("cam", image, [d.box for d in detections])
    finally:
        await split.stop()
    assert len(detections) == 1 and len(faces) == 1
    np.testing.assert_allclose(faces[0].encoding, direct[0].encoding, atol=1e-6)
    assert split.encoder.pids == []  # stopped with the split pool
