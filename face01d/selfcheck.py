"""``face01d check``: is this machine able to run face01d, and how well?

Each check returns a result rather than raising, so one broken component
(say, a dlib built without the right CPU flags) does not hide the others.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from face01d.errors import Face01dError
from face01d.vision import models

CPU_FLAGS = ("sse4_2", "avx", "avx2", "avx512f")
CPUINFO = Path("/proc/cpuinfo")


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str


def check_python() -> CheckResult:
    version = ".".join(map(str, sys.version_info[:3]))
    return CheckResult("python", sys.version_info >= (3, 11), f"Python {version} (3.11 or newer needed)")


def cpu_flags(cpuinfo: Path = CPUINFO) -> set[str]:
    """The vector-extension flags of the first CPU in /proc/cpuinfo."""
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split()) & set(CPU_FLAGS)
    return set()


def check_cpu(cpuinfo: Path = CPUINFO) -> CheckResult:
    """No AVX is not fatal, only slow: dlib falls back to SSE (several times slower)."""
    try:
        flags = cpu_flags(cpuinfo)
    except OSError as exc:
        return CheckResult("cpu", True, f"warning: cannot read {cpuinfo}: {exc.strerror}")
    have = ", ".join(f for f in CPU_FLAGS if f in flags) or "none"
    warning = "" if "avx" in flags else "warning: no AVX, dlib will be slow; "
    return CheckResult("cpu", True, f"{warning}vector extensions: {have}")


def check_dlib() -> CheckResult:
    dlib = models._dlib()
    cuda = bool(getattr(dlib, "DLIB_USE_CUDA", False))
    return CheckResult("dlib", True, f"dlib {dlib.__version__}, CUDA {'on' if cuda else 'off'}")


def _model_check(name: models.ModelName) -> Callable[[], CheckResult]:
    def check() -> CheckResult:
        models.load_model(name)  # really load: a truncated file fails here
        return CheckResult(f"model {name}", True, f"loaded {models.model_path(name)}")

    return check


def check_mediapipe() -> CheckResult:
    from face01d.vision.detectors import MediapipeDetector

    for model in ("short", "full"):
        detector = MediapipeDetector(model)
        detector.detect(np.zeros((240, 320, 3), np.uint8))
        detector.close()
    import mediapipe

    return CheckResult("mediapipe", True, f"mediapipe {mediapipe.__version__}: BlazeFace short and full run")


def check_opencv() -> CheckResult:
    import cv2

    image = np.full((32, 48, 3), (0, 128, 255), np.uint8)
    ok, jpeg = cv2.imencode(".jpg", image)
    decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR) if ok else None
    good = decoded is not None and decoded.shape == image.shape and np.abs(decoded.astype(int) - image).max() < 8
    return CheckResult("opencv", good, f"OpenCV {cv2.__version__}: JPEG round trip {'ok' if good else 'FAILED'}")


def check_worker_process() -> CheckResult:
    """Encodings run in a worker process, frames pass through /dev/shm: both must work on this box.

    A container with a tiny /dev/shm, or a sandbox that forbids the
    forkserver's socket, fails here rather than at the first face.
    """
    import asyncio

    from face01d.config.models import DetectorConfig
    from face01d.workers import ProcessWorkers, VisionSettings

    async def detect_once() -> int:
        workers = ProcessWorkers(VisionSettings(DetectorConfig(kind="hog"), stages=("detect",)), 1)
        await workers.start()
        try:
            await workers.detect("self-check", np.zeros((1080, 1920, 3), np.uint8))  # 6 MB through shared memory
            return len(workers.pids)
        finally:
            await workers.stop()

    started = asyncio.run(detect_once())
    return CheckResult("workers", started == 1, "a worker process started and answered through shared memory")


def _run(name: str, check: Callable[[], CheckResult]) -> CheckResult:
    try:
        return check()
    except (Face01dError, ImportError, RuntimeError, OSError, ValueError) as exc:
        return CheckResult(name, False, f"{type(exc).__name__}: {exc}")


def run_checks() -> list[CheckResult]:
    """Every check, in order; a failure in one does not stop the others."""
    checks: list[tuple[str, Callable[[], CheckResult]]] = [
        ("python", check_python),
        ("cpu", check_cpu),
        ("dlib", check_dlib),
        *((f"model {name}", _model_check(name)) for name in models.MODEL_NAMES),
        ("mediapipe", check_mediapipe),
        ("opencv", check_opencv),
        ("workers", check_worker_process),
    ]
    return [_run(name, check) for name, check in checks]
