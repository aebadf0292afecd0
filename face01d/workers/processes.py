"""The process pool, in the parent: start, dispatch, results, deaths, hangs, stop.

dlib's encoder holds the GIL, so threads cannot put a second core to work on
encodings; processes can. The design follows Frigate's detector processes:
what runs in a worker is in ``child.py``, how frames reach it (shared
memory, crops for encoding) in ``shm.py``, and how a worker process is
started from a forkserver, watched and ended in ``handle.py``. This module
is the policy on top.

- **Dispatch.** One queue per camera, served round-robin as workers become
  idle (``fair.py``), so a camera that submits continuously cannot starve
  the others. A worker holds one job at a time.
- **Results and deaths.** Answers resolve asyncio futures directly from the
  loop's readers, and a worker that dies (SIGKILL, a segfault in native
  code, the OOM killer) is seen at once. Its job raises ``WorkerLost``, a
  warning names the pid and the exit code, and a replacement loads its
  models while the other workers go on.
- **Replacements never give up.** One that cannot start (EMFILE at the
  descriptor limit) or load its models is tried again with backoff, 1 s
  doubling to 60 s, for as long as the pool runs: the cause may pass. With
  no worker left after a failed try the pool is *unavailable* (``health()``,
  read by /readyz, the metrics and the watchdog), jobs fail at once with
  ``WorkerLost`` rather than queue, and one error line a minute says so.
- **Hangs.** A worker stuck in native code (a deadlock, a stopped process)
  neither answers nor dies. A job it has held for ``JOB_TIMEOUT_S`` fails at
  once with ``WorkerLost``, a warning names the pid and the camera, and the
  worker gets SIGKILL; when its sentinel says it is gone it is replaced as a
  dead one is. The clock starts when the job is sent, not when it is
  queued: waiting for a turn is not a hang.
- **Stop.** SIGTERM, a short grace, SIGKILL; then every block is unlinked.
  Workers ignore SIGINT (Ctrl-C reaches the whole process group; the parent
  decides) and leave quietly on SIGTERM, so neither prints a traceback.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np
import structlog

from face01d.backoff import Backoff
from face01d.config.models import SetArea
from face01d.errors import ModelError
from face01d.faces import Detection, EncodedFace, FaceBox
from face01d.throttle import Throttle
from face01d.vision.encoder import AlignedFaces
from face01d.workers import handle
from face01d.workers.base import PoolHealth, VisionSettings, WorkerLost
from face01d.workers.child import Order
from face01d.workers.fair import FairQueue
from face01d.workers.handle import Job, WorkerHandle
from face01d.workers.shm import BlockKey, FrameRef, Kind, SharedFrames, crop_around

log = structlog.get_logger(__name__)

START_TIMEOUT_S = 120.0  # forkserver start, imports and model loading on a busy 2-core machine
JOB_TIMEOUT_S = 30.0  # a job unanswered this long after it was sent means a hung worker (job p99: < 0.4 s)
STOP_GRACE_S = 2.0  # after SIGTERM, before SIGKILL
CLEAN_EXIT_REPLACE_S = 1.0  # a worker that left on SIGTERM is replaced after this: the group may be stopping
REPLACE_BACKOFF_START_S = 1.0  # a failed replacement is tried again after up to this, doubling ...
REPLACE_BACKOFF_CAP_S = 60.0  # ... up to this (full jitter), forever
OUTAGE_LOG_EVERY_S = 60.0  # failed replacements: one error line per this, with the count of the others


class ProcessWorkers:
    """The process pool: one FaceAnalyzer per process, frames in shared memory, fair between cameras."""

    def __init__(self, settings: VisionSettings, processes: int) -> None:
        if processes < 1:
            raise ValueError(f"processes must be ≥ 1, not {processes}")
        self.settings = settings
        self.processes = processes
        self._context = handle.context()
        self._frames = SharedFrames()
        self._copier = ThreadPoolExecutor(2, thread_name_prefix="face01d-shm")
        self._queues: FairQueue[Job] = FairQueue()
        self._workers: list[WorkerHandle] = []
        self._idle: deque[WorkerHandle] = deque()
        self._replacements: set[asyncio.Task[None]] = set()
        self._trouble: str | None = None  # why the pool is unavailable: no worker left, and a replacement failed
        self._trouble_since: float | None = None
        self._failed_starts = 0
        self._complaints = Throttle(OUTAGE_LOG_EVERY_S)
        self._ids = itertools.count()
        self._spawn_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers alive or starting (for logs and tests)."""
        return [w.pid for w in self._workers if w.pid is not None]

    @property
    def jobs(self) -> dict[int, tuple[str, Kind]]:
        """What each busy worker is doing: pid → (camera, kind) (for logs, a watchdog and tests)."""
        return {w.pid: (w.job.camera, w.job.order.kind) for w in self._workers if w.job and w.pid is not None}

    def health(self) -> dict[str, PoolHealth]:
        """Workers able to take a job, out of ``processes``; the reason while there is none and none could start."""
        alive = len(self._alive())
        reason = self._trouble if alive == 0 else None
        return {self.settings.pool: PoolHealth(alive, self.processes, reason, self._failed_starts)}

    async def start(self) -> None:
        """Start the workers and wait until every one has loaded its models; a ModelError if one cannot."""
        self._loop = asyncio.get_running_loop()
        try:
            workers = await self._launch(self.processes)
        except BaseException:
            await self.stop()
            raise
        readiness = asyncio.gather(*(w.ready for w in workers), return_exceptions=True)
        try:
            outcomes = await asyncio.wait_for(readiness, START_TIMEOUT_S)
        except TimeoutError:
            outcomes = [ModelError(f"vision workers not ready after {START_TIMEOUT_S:.0f} s")]
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            await self.stop()
            raise failures[0] if isinstance(failures[0], ModelError) else ModelError(str(failures[0]))
        log.info("vision workers ready", processes=self.processes, pids=self.pids)

    async def detect(self, camera: str, image: np.ndarray, set_area: SetArea | None = None) -> list[Detection]:
        key: BlockKey = (camera, "detect")
        block, frame = await self._copy_in(key, image)
        return await self._submit(camera, key, block, Order(next(self._ids), "detect", frame, set_area=set_area))

    async def encode(self, camera: str, image: np.ndarray, boxes: Sequence[FaceBox]) -> list[EncodedFace]:
        if not boxes:
            return []
        crop, shifted = crop_around(image, boxes)
        key: BlockKey = (camera, "encode")
        block, frame = await self._copy_in(key, crop)
        return await self._submit(camera, key, block, Order(next(self._ids), "encode", frame, boxes=tuple(shifted)))

    async def describe(self, camera: str, faces: AlignedFaces) -> list[EncodedFace]:
        """Encode chips aligned elsewhere (a ``face01d worker``'s jobs): the network only."""
        if len(faces.chips) == 0:
            return []
        key: BlockKey = (camera, "describe")
        block, frame = await self._copy_in(key, faces.chips)
        return await self._submit(camera, key, block, Order(next(self._ids), "describe", frame, yaws=faces.yaws))

    async def stop(self) -> None:
        """Abandon the jobs (WorkerLost), end the workers (SIGTERM, then SIGKILL), unlink every block."""
        if self._stopping:
            return
        self._stopping = True
        for task in self._replacements:
            task.cancel()
        workers, self._workers = self._workers, []
        for worker in workers:
            self._unwatch(worker)
        self._abandon(workers, WorkerLost("the vision worker pool was stopped"))
        await asyncio.to_thread(self._end, workers)
        for worker in workers:
            worker.close()
        self._frames.close()
        self._copier.shutdown(wait=False)  # a copy still queued fails with WorkerLost: the blocks are closed

    # -- submitting ---------------------------------------------------------------------------

    async def _copy_in(self, key: BlockKey, image: np.ndarray) -> tuple[SharedMemory, FrameRef]:
        """Copy into shared memory on the pool's thread; a block copied for a caller who left is returned."""
        self._check_running()
        copy = asyncio.get_running_loop().run_in_executor(self._copier, self._frames.put, key, image)
        try:
            return await asyncio.shield(copy)
        except asyncio.CancelledError:
            copy.add_done_callback(lambda done: self._release_unused(key, done))
            raise

    def _release_unused(self, key: BlockKey, done: asyncio.Future[tuple[SharedMemory, FrameRef]]) -> None:
        if not done.cancelled() and done.exception() is None:
            self._frames.release(key, done.result()[0])

    async def _submit(self, camera: str, key: BlockKey, block: SharedMemory, order: Order) -> Any:
        job = Job(order, camera, key, block, asyncio.get_running_loop().create_future())
        try:
            self._check_running()
        except WorkerLost:
            self._frames.release(key, block)
            raise
        self._queues.append(camera, job)
        self._pump()
        return await job.future

    def _check_running(self) -> None:
        if self._loop is None or self._stopping:
            raise WorkerLost("the vision worker pool is not running")
        if self._trouble is not None and not self._alive():
            raise WorkerLost(self._trouble)  # at once: a replacement may be a minute of backoff away

    def _pump(self) -> None:
        """Hand queued jobs to idle workers, taking the cameras in turn; each job's clock starts when sent."""
        while self._idle:
            job = self._next_job()
            if job is None:
                return
            worker = self._idle.popleft()
            try:
                worker.give(job, JOB_TIMEOUT_S, self._on_timeout)
            except OSError:  # it died since it became idle; its sentinel will tell how
                self._queues.put_back(job.camera, job)

    def _next_job(self) -> Job | None:
        """The oldest job of the camera whose turn it is; the camera then goes to the back."""
        while (job := self._queues.pop()) is not None:
            if not job.future.done():
                return job
            self._frames.release(job.key, job.block)  # its caller gave up before it was sent
        return None

    # -- workers --------------------------------------------------------------------------------

    async def _launch(self, count: int) -> list[WorkerHandle]:
        """Start ``count`` workers (not waiting for their models); they count as workers from now on."""
        loop = asyncio.get_running_loop()
        workers = [WorkerHandle(self._context, self.settings, loop) for _ in range(count)]
        self._workers.extend(workers)
        try:
            await asyncio.to_thread(self._start_processes, workers)
        except Exception:
            self._drop_unstarted(workers)
            raise
        finally:
            for worker in workers:
                if not self._stopping and worker.pid is not None:
                    worker.watch(self._on_message, self._on_exit)
        return workers

    def _drop_unstarted(self, workers: list[WorkerHandle]) -> None:
        for worker in workers:
            if worker.pid is None and worker in self._workers:
                self._workers.remove(worker)
                worker.close()

    def _start_processes(self, workers: list[WorkerHandle]) -> None:
        with self._spawn_lock:  # stop() takes it too: no worker is started behind its back
            for worker in workers:
                if self._stopping:
                    return
                worker.start()

    def _alive(self) -> list[WorkerHandle]:
        return [worker for worker in self._workers if worker.loaded]

    def _unwatch(self, worker: WorkerHandle) -> None:
        worker.unwatch()
        if worker in self._idle:
            self._idle.remove(worker)

    def _on_message(self, worker: WorkerHandle) -> None:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):  # it died: the sentinel says how, with the exit code
            worker.stop_listening()
            return
        if message[0] == "failed":
            worker.ready.set_exception(ModelError(f"vision worker {worker.pid} cannot load its models: {message[1]}"))
            return
        if message[0] == "ready":
            worker.ready.set_result(None)
        else:
            self._finish(worker, *message[1:])
        self._idle.append(worker)
        self._pump()

    def _finish(self, worker: WorkerHandle, job_id: int, ok: bool, payload: Any) -> None:
        job = worker.take_job()
        if job is None or job.order.id != job_id:
            log.error("vision worker answered a job it was not given", pid=worker.pid, job=job_id)
            return
        self._frames.release(job.key, job.block)
        if not job.future.done():
            job.future.set_result(payload) if ok else job.future.set_exception(payload)

    def _on_timeout(self, worker: WorkerHandle) -> None:
        """It held its job JOB_TIMEOUT_S: the job fails now; the worker is killed, replaced once gone."""
        if worker.gone or worker.job is None:
            return
        job = worker.take_job()
        worker.hung = True
        worker.stop_listening()  # a late answer must not make it idle again
        log.warning("vision worker hung", pid=worker.pid, camera=job.camera, job=job.order.kind,
                    timeout_s=JOB_TIMEOUT_S)
        self._fail(job, WorkerLost(f"vision worker {worker.pid} timed out after {JOB_TIMEOUT_S:g} s"))
        worker.process.kill()  # SIGKILL ends a stopped process too; the sentinel fires once it is reaped

    def _on_exit(self, worker: WorkerHandle) -> None:
        """A worker ended without being asked: fail its job, and replace it if it had been working."""
        if worker.gone:
            return
        self._unwatch(worker)
        self._workers.remove(worker)
        code = worker.exit_code()
        if worker.ready.done() and not worker.ready.cancelled() and worker.ready.exception() is None:
            self._lost(worker, code)
        elif not worker.ready.done():  # died while loading: start() or the replacement reports it
            worker.ready.set_exception(
                ModelError(f"vision worker {worker.pid} exited with code {code} while loading its models")
            )

    def _lost(self, worker: WorkerHandle, code: int | None) -> None:
        job = worker.job
        fields = {"pid": worker.pid, "exit_code": code, "camera": job.camera if job else None,
                  "job": job.order.kind if job else None}
        if worker.hung:  # the warning came when it was killed
            log.info("hung vision worker is gone", **fields)
        elif code == 0:  # it left on SIGTERM: someone asked, perhaps the whole process group is stopping
            log.info("vision worker exited", **fields)
        else:
            log.warning("vision worker died", **fields)
        self._abandon([worker], WorkerLost(f"vision worker {worker.pid} died (exit code {code})"))
        self._replace(CLEAN_EXIT_REPLACE_S if code == 0 else 0.0)

    def _replace(self, delay: float) -> None:
        task = asyncio.get_running_loop().create_task(self._replacement(delay), name="vision-worker-replacement")
        self._replacements.add(task)
        task.add_done_callback(self._replacements.discard)

    async def _replacement(self, delay: float) -> None:
        """Start a worker in place of a lost one; a failed try is tried again with backoff until one loads."""
        backoff = Backoff(REPLACE_BACKOFF_START_S, REPLACE_BACKOFF_CAP_S)
        await asyncio.sleep(delay)
        while not self._stopping:  # stop() cancels this task too; this is for a try that ends as it stops
            try:
                worker = await self._start_one()
            except Exception as exc:  # noqa: BLE001 - EMFILE, a forkserver gone, models that will not load
                await asyncio.sleep(self._start_failed(exc, backoff))
                continue
            self._started_again(worker, backoff.attempt + 1)
            return

    async def _start_one(self) -> WorkerHandle:
        """One new worker with its models loaded; ModelError if they are not loaded within START_TIMEOUT_S."""
        (worker,) = await self._launch(1)
        try:
            await asyncio.wait_for(asyncio.shield(worker.ready), START_TIMEOUT_S)
        except TimeoutError:
            worker.process.kill()  # its sentinel takes it out of the pool
            raise ModelError(f"vision worker {worker.pid} not ready after {START_TIMEOUT_S:.0f} s") from None
        return worker

    def _start_failed(self, error: Exception, backoff: Backoff) -> float:
        """Count a failed replacement, log it (at most once a minute); the wait before the next try.

        With no worker left the pool is unavailable from now on: the jobs waiting
        for this replacement fail now, and new ones at once, until a worker loads.
        """
        self._failed_starts += 1
        cause = f"{type(error).__name__}: {error}"
        alive = len(self._alive())
        if not alive:
            self._trouble = f"no vision worker ({self.settings.pool}): a replacement failed: {cause}; retrying"
            self._trouble_since = self._trouble_since or time.monotonic()
            self._abandon_queued(WorkerLost(self._trouble))
        delay = backoff.next_delay()
        if self._complaints.due():
            log.error("vision worker could not be replaced", error=cause, workers=alive, wanted=self.processes,
                      attempt=backoff.attempt, retry_in_s=round(delay, 1),
                      failures_not_logged=self._complaints.take_suppressed())
        return delay

    def _started_again(self, worker: WorkerHandle, attempts: int) -> None:
        outage_s = None if self._trouble_since is None else round(time.monotonic() - self._trouble_since, 1)
        self._trouble = self._trouble_since = None
        self._complaints.reset()
        log.info("vision worker replaced", pid=worker.pid, attempts=attempts, unavailable_s=outage_s)

    def _abandon(self, workers: list[WorkerHandle], error: WorkerLost) -> None:
        """Fail the jobs of these workers (and, at stop, every queued one); their blocks are free again."""
        for worker in workers:
            job = worker.take_job()
            if job is not None:
                self._fail(job, error)
            if not worker.ready.done():
                worker.ready.cancel()
        if self._stopping:
            self._abandon_queued(error)

    def _abandon_queued(self, error: WorkerLost) -> None:
        for job in self._queues.clear():
            self._fail(job, error)

    def _fail(self, job: Job, error: WorkerLost) -> None:
        self._frames.release(job.key, job.block)
        if not job.future.done():
            job.future.set_exception(error)

    def _end(self, workers: list[WorkerHandle]) -> None:
        """On a thread: the started ones get SIGTERM, a short grace, then SIGKILL."""
        with self._spawn_lock:
            started = [w.process for w in workers if w.process.pid is not None]
        handle.end(started, STOP_GRACE_S)
