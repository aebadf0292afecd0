"""Where the heavy vision work runs: worker threads or worker processes.

The pipeline asks ``VisionWorkers`` to detect faces in a frame and to encode
faces at given boxes, and awaits the answer; whether that runs on a thread
of this process or in another process is the pool's business. dlib's
encoder holds the GIL, so only a process can put a second core to work on
encodings; HOG (dlib-bin) releases it, so threads suffice for detection.
``make_workers`` builds what ``[workers]`` in the config asks for.
"""

from face01d.workers.base import PoolHealth, VisionSettings, VisionWorkers, WorkerLost
from face01d.workers.factory import SplitWorkers, make_workers
from face01d.workers.processes import ProcessWorkers
from face01d.workers.threads import ThreadWorkers

__all__ = [
    "PoolHealth",
    "ProcessWorkers",
    "SplitWorkers",
    "ThreadWorkers",
    "VisionSettings",
    "VisionWorkers",
    "WorkerLost",
    "make_workers",
]
