"""Worker processes: detection and encoding on other cores, frames through shared memory.

dlib's encoder holds the GIL, so threads cannot put a second core to work on
encodings; processes can. The design follows Frigate's detector processes:

- **Start-up.** Workers come from a *forkserver* (spawn where there is none),
  never from a plain fork of this process, which runs an event loop, threads
  and sockets. The forkserver imports this module once, so a worker (or a
  replacement) only forks and loads its models: one FaceAnalyzer per process,
  built once, then ``("ready", pid)`` or ``("failed", why)`` on its pipe.
- **Frames.** ``SharedFrames`` is Frigate's SharedMemoryFrameManager: the
  pixels are copied (on the pool's own thread, never on the loop) into a
  ``multiprocessing.shared_memory`` block and the worker is told only the
  block's name, the shape and the dtype. Blocks are reused per camera and
  kind, and leased per job, so a caller that stopped waiting can never have
  its block overwritten under a worker still reading it.
- **Encoding gets a crop.** ``encode`` ships only the part of the frame around
  its boxes (``crop_around``), boxes shifted into the crop: a face is a few
  percent of a 1080p frame, so the copy is that much smaller, and detection of
  the next frame and encoding of this one (both may be in flight for one
  camera) never share a buffer. dlib aligns the face from landmarks and
  samples a chip larger than the box, so the crop keeps a generous margin;
  the encodings equal the full frame's (bit for bit on the test data).
- **Dispatch.** One queue per camera, served round-robin as workers become
  idle, so a camera that submits continuously cannot starve the others. A
  worker holds one job at a time.
- **Results and deaths.** The loop watches each worker's pipe and its process
  sentinel with ``add_reader``: no thread blocks on a pipe, answers resolve
  asyncio futures directly, and a worker that dies (SIGKILL, a segfault in
  native code, the OOM killer) is seen at once. Its job raises ``WorkerLost``,
  a warning names the pid and the exit code, and a replacement loads its
  models while the other workers go on. A replacement that cannot load them
  is not replaced again (that would be a crash loop).
- **Stop.** SIGTERM, a short grace, SIGKILL; then every block is unlinked.
  Workers ignore SIGINT (Ctrl-C reaches the whole process group; the parent
  decides) and leave quietly on SIGTERM, so neither prints a traceback.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import pickle
import secrets
import signal
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from multiprocessing.shared_memory import SharedMemory
from typing import Any, Literal

import numpy as np
import structlog

from face01d.config.models import SetArea
from face01d.errors import ModelError
from face01d.faces import Detection, EncodedFace, FaceBox
from face01d.vision.analyzer import FaceAnalyzer
from face01d.workers.base import VisionSettings, WorkerLost

log = structlog.get_logger(__name__)

START_TIMEOUT_S = 120.0  # forkserver start, imports and model loading on a busy 2-core machine
STOP_GRACE_S = 2.0  # after SIGTERM, before SIGKILL
CLEAN_EXIT_REPLACE_S = 1.0  # a worker that left on SIGTERM is replaced after this: the group may be stopping
CROP_MARGIN = 1.0  # context kept around each face for encoding, in face sizes (0.25 already sufficed, 0.1 did not)
SHM_PREFIX = "face01d_"  # /dev/shm/face01d_<pid>_<random>: ours, and whose
ATTACHED_LIMIT = 8  # blocks a worker keeps mapped between jobs

Kind = Literal["detect", "encode"]
BlockKey = tuple[str, Kind]  # (camera, kind): the blocks reused for one camera's jobs of one kind


@dataclass(frozen=True, slots=True)
class FrameRef:
    """All a worker is told about a frame: where it lies in shared memory and how to read it."""

    name: str
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True, slots=True)
class _Order:
    """One job as sent down the pipe (a few hundred bytes: never the pixels)."""

    id: int
    kind: Kind
    frame: FrameRef
    set_area: SetArea | None = None
    boxes: tuple[FaceBox, ...] = ()


class SharedFrames:
    """Shared-memory blocks for frames, reused per (camera, kind) and leased per job.

    ``put`` runs on a thread, ``release`` on the loop, ``close`` at stop: a
    lock keeps the free lists whole. A free block too small for the next
    frame is unlinked and re-created at the new size.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: dict[BlockKey, list[SharedMemory]] = {}
        self._blocks: dict[str, SharedMemory] = {}
        self._closed = False

    def put(self, key: BlockKey, image: np.ndarray) -> tuple[SharedMemory, FrameRef]:
        """Copy ``image`` into a block leased to the caller (a 1080p frame is 6 MB: not on the loop)."""
        block = self._lease(key, image.nbytes)
        np.ndarray(image.shape, image.dtype, buffer=block.buf)[...] = image
        return block, FrameRef(block.name, image.shape, image.dtype.str)

    def release(self, key: BlockKey, block: SharedMemory) -> None:
        """The job is over: the block may hold the camera's next frame."""
        with self._lock:
            if block.name in self._blocks:
                self._free.setdefault(key, []).append(block)

    def close(self) -> None:
        """Unlink every block, leased or not; a put that races with this fails with WorkerLost."""
        with self._lock:
            self._closed = True
            blocks, self._blocks, self._free = list(self._blocks.values()), {}, {}
        for block in blocks:
            _unlink(block)

    def _lease(self, key: BlockKey, nbytes: int) -> SharedMemory:
        with self._lock:
            if self._closed:
                raise WorkerLost("the vision worker pool is stopped")
            free = self._free.get(key)
            block = free.pop() if free else None
            if block is not None and block.size >= nbytes:
                return block
            if block is not None:
                del self._blocks[block.name]
                _unlink(block)
            name = f"{SHM_PREFIX}{os.getpid()}_{secrets.token_hex(6)}"
            block = SharedMemory(name, create=True, size=max(nbytes, 1))
            self._blocks[block.name] = block
            return block


def _unlink(block: SharedMemory) -> None:
    try:
        block.close()
    except BufferError:  # a view is still alive somewhere; the mapping goes with it, the name goes now
        pass
    try:
        block.unlink()
    except FileNotFoundError:
        pass


def crop_around(
    image: np.ndarray, boxes: Sequence[FaceBox], margin: float = CROP_MARGIN
) -> tuple[np.ndarray, list[FaceBox]]:
    """The part of ``image`` that encoding ``boxes`` reads (a view), and the boxes in its pixels.

    Each box gets ``margin`` times its larger side on every side, so the
    landmarks and the aligned chip (which reaches past the box) see the same
    pixels as on the full frame; at the frame's edges the crop stops where
    the frame does, so nothing changes there either.
    """
    height, width = image.shape[:2]
    pads = [int(margin * max(box.width, box.height)) + 1 for box in boxes]
    top = max(min(box.top - pad for box, pad in zip(boxes, pads)), 0)
    left = max(min(box.left - pad for box, pad in zip(boxes, pads)), 0)
    bottom = min(max(box.bottom + pad for box, pad in zip(boxes, pads)), height)
    right = min(max(box.right + pad for box, pad in zip(boxes, pads)), width)
    if bottom <= top or right <= left:  # boxes off the frame: let the encoder see what it would have seen
        return image, list(boxes)
    shifted = [FaceBox(b.top - top, b.right - left, b.bottom - top, b.left - left) for b in boxes]
    return image[top:bottom, left:right], shifted


# --- the worker process ------------------------------------------------------------------------


class _Attached:
    """A worker's mappings of the parent's blocks: the few most recent stay mapped between jobs."""

    def __init__(self) -> None:
        self._blocks: OrderedDict[str, SharedMemory] = OrderedDict()

    def array(self, frame: FrameRef) -> np.ndarray:
        block = self._blocks.pop(frame.name, None)
        self._blocks[frame.name] = block = block if block is not None else SharedMemory(frame.name)
        while len(self._blocks) > ATTACHED_LIMIT:
            try:
                self._blocks.popitem(last=False)[1].close()
            except BufferError:
                pass
        return np.ndarray(frame.shape, np.dtype(frame.dtype), buffer=block.buf)


def _serve(conn: Connection, settings: VisionSettings) -> None:
    """A worker's life: quiet signals, its models once, then one job at a time until the pipe closes."""
    _quiet_signals()
    try:
        analyzer = FaceAnalyzer(settings.detector, settings.landmarks, settings.jitters)
    except Exception as exc:  # noqa: BLE001 - whatever breaks the models is reported, not raised
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", os.getpid()))
    frames = _Attached()
    while True:
        try:
            conn.send(_answer(analyzer, frames, conn.recv()))
        except (EOFError, OSError):  # the parent is gone or closed our pipe: nothing more to do
            return


def _answer(analyzer: FaceAnalyzer, frames: _Attached, order: _Order) -> tuple[str, int, bool, Any]:
    try:
        image = frames.array(order.frame)
        if order.kind == "detect":
            return "done", order.id, True, analyzer.detect(image, "bgr", order.set_area)
        return "done", order.id, True, analyzer.encode_with_pose(image, order.boxes, "bgr")
    except Exception as exc:  # noqa: BLE001 - the caller gets it, as from a thread
        return "done", order.id, False, _picklable(exc.with_traceback(None))


def _picklable(exc: Exception) -> Exception:
    try:
        pickle.dumps(exc)
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _quiet_signals() -> None:
    """Ctrl-C goes to the whole process group: the parent decides, the worker ignores it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _leave)


def _leave(signum: int, frame: object) -> None:
    raise SystemExit(0)  # multiprocessing exits with 0 on SystemExit(0), without a traceback


def _context() -> BaseContext:
    """A forkserver that has already imported this module (fast restarts); spawn where there is none."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])  # only read when the forkserver starts
    return context


# --- the pool, in the parent -------------------------------------------------------------------


@dataclass(eq=False)
class _Job:
    order: _Order
    camera: str
    key: BlockKey
    block: SharedMemory
    future: asyncio.Future[Any]


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    theirs: Connection  # the child's end, closed here once the child holds it
    ready: asyncio.Future[None]
    pid: int | None = None  # kept: a closed Process no longer says
    job: _Job | None = None
    gone: bool = False


class ProcessWorkers:
    """The process pool: one FaceAnalyzer per process, frames in shared memory, fair between cameras."""

    def __init__(self, settings: VisionSettings, processes: int) -> None:
        if processes < 1:
            raise ValueError(f"processes must be ≥ 1, not {processes}")
        self.settings = settings
        self.processes = processes
        self._context = _context()
        self._frames = SharedFrames()
        self._copier = ThreadPoolExecutor(2, thread_name_prefix="face01d-shm")
        self._queues: OrderedDict[str, deque[_Job]] = OrderedDict()
        self._workers: list[_Worker] = []
        self._idle: deque[_Worker] = deque()
        self._replacements: set[asyncio.Task[None]] = set()
        self._coming = 0  # replacements decided but not yet in self._workers
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
        return await self._submit(camera, key, block, _Order(next(self._ids), "detect", frame, set_area=set_area))

    async def encode(self, camera: str, image: np.ndarray, boxes: Sequence[FaceBox]) -> list[EncodedFace]:
        if not boxes:
            return []
        crop, shifted = crop_around(image, boxes)
        key: BlockKey = (camera, "encode")
        block, frame = await self._copy_in(key, crop)
        return await self._submit(camera, key, block, _Order(next(self._ids), "encode", frame, boxes=tuple(shifted)))

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
        await asyncio.to_thread(self._end, [w.process for w in workers])
        for worker in workers:
            worker.conn.close()
            worker.theirs.close()
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

    async def _submit(self, camera: str, key: BlockKey, block: SharedMemory, order: _Order) -> Any:
        job = _Job(order, camera, key, block, asyncio.get_running_loop().create_future())
        try:
            self._check_running()
        except WorkerLost:
            self._frames.release(key, block)
            raise
        self._queues.setdefault(camera, deque()).append(job)
        self._pump()
        return await job.future

    def _check_running(self) -> None:
        if self._loop is None or self._stopping:
            raise WorkerLost("the vision worker pool is not running")
        if not self._workers and not self._coming:
            raise WorkerLost("no vision worker left (replacements could not load their models)")

    def _pump(self) -> None:
        """Hand queued jobs to idle workers, taking the cameras in turn."""
        while self._idle:
            job = self._next_job()
            if job is None:
                return
            worker = self._idle.popleft()
            try:
                worker.conn.send(job.order)
            except OSError:  # it died since it became idle; its sentinel will tell how
                self._queues.setdefault(job.camera, deque()).appendleft(job)
                self._queues.move_to_end(job.camera, last=False)
                continue
            worker.job = job

    def _next_job(self) -> _Job | None:
        """The oldest job of the camera whose turn it is; the camera then goes to the back."""
        while self._queues:
            camera, queue = next(iter(self._queues.items()))
            job = queue.popleft()
            if queue:
                self._queues.move_to_end(camera)
            else:
                del self._queues[camera]
            if not job.future.done():
                return job
            self._frames.release(job.key, job.block)  # its caller gave up before it was sent
        return None

    # -- workers --------------------------------------------------------------------------------

    async def _launch(self, count: int) -> list[_Worker]:
        """Start ``count`` workers (not waiting for their models); they count as workers from now on."""
        loop = asyncio.get_running_loop()
        workers = []
        for _ in range(count):
            ours, theirs = self._context.Pipe()
            process = self._context.Process(
                target=_serve, args=(theirs, self.settings), name="face01d-vision", daemon=True
            )
            workers.append(_Worker(process, ours, theirs, loop.create_future()))
        self._workers.extend(workers)
        try:
            await asyncio.to_thread(self._start_processes, workers)
        except Exception:
            self._drop_unstarted(workers)
            raise
        finally:
            for worker in workers:
                self._watch(worker)
        return workers

    def _drop_unstarted(self, workers: list[_Worker]) -> None:
        for worker in workers:
            if worker.pid is None and worker in self._workers:
                self._workers.remove(worker)
                worker.conn.close()
                worker.theirs.close()

    def _start_processes(self, workers: list[_Worker]) -> None:
        """On a thread: the first start waits for the forkserver to import face01d (seconds)."""
        with self._spawn_lock:  # stop() takes it too: no worker is started behind its back
            for worker in workers:
                if self._stopping:
                    return
                worker.process.start()
                worker.pid = worker.process.pid
                worker.theirs.close()

    def _watch(self, worker: _Worker) -> None:
        if self._stopping or worker.pid is None:
            return
        loop = asyncio.get_running_loop()
        loop.add_reader(worker.conn.fileno(), self._on_message, worker)
        loop.add_reader(worker.process.sentinel, self._on_exit, worker)

    def _unwatch(self, worker: _Worker) -> None:
        worker.gone = True
        if worker in self._idle:
            self._idle.remove(worker)
        if worker.pid is not None and self._loop is not None:
            self._loop.remove_reader(worker.conn.fileno())
            self._loop.remove_reader(worker.process.sentinel)

    def _on_message(self, worker: _Worker) -> None:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):  # it died: the sentinel says how, with the exit code
            self._loop.remove_reader(worker.conn.fileno())
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

    def _finish(self, worker: _Worker, job_id: int, ok: bool, payload: Any) -> None:
        job, worker.job = worker.job, None
        if job is None or job.order.id != job_id:
            log.error("vision worker answered a job it was not given", pid=worker.pid, job=job_id)
            return
        self._frames.release(job.key, job.block)
        if not job.future.done():
            job.future.set_result(payload) if ok else job.future.set_exception(payload)

    def _on_exit(self, worker: _Worker) -> None:
        """A worker ended without being asked: fail its job, and replace it if it had been working."""
        if worker.gone:
            return
        self._unwatch(worker)
        self._workers.remove(worker)
        code = worker.process.exitcode
        worker.conn.close()
        worker.process.close()
        if worker.ready.done() and worker.ready.exception() is None:
            self._lost(worker, code)
            return
        if not worker.ready.done():  # died while loading: start() or the replacement reports it
            worker.ready.set_exception(
                ModelError(f"vision worker {worker.pid} exited with code {code} while loading its models")
            )
        self._abandon_if_none_left()

    def _lost(self, worker: _Worker, code: int | None) -> None:
        job = worker.job
        fields = {"pid": worker.pid, "exit_code": code, "camera": job.camera if job else None,
                  "job": job.order.kind if job else None}
        if code == 0:  # it left on SIGTERM: someone asked, perhaps the whole process group is stopping
            log.info("vision worker exited", **fields)
        else:
            log.warning("vision worker died", **fields)
        self._abandon([worker], WorkerLost(f"vision worker {worker.pid} died (exit code {code})"))
        self._replace(CLEAN_EXIT_REPLACE_S if code == 0 else 0.0)

    def _replace(self, delay: float) -> None:
        self._coming += 1
        task = asyncio.get_running_loop().create_task(self._replacement(delay))
        self._replacements.add(task)
        task.add_done_callback(self._replacements.discard)

    async def _replacement(self, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            (worker,) = await self._launch(1)
        except Exception as exc:  # noqa: BLE001 - logged here, or it would be a stray task traceback
            log.error("vision worker could not be replaced", error=f"{type(exc).__name__}: {exc}")
            return
        finally:
            self._coming -= 1
            self._abandon_if_none_left()
        try:
            await worker.ready
        except ModelError as exc:
            log.error("replacement vision worker failed", error=str(exc))
            return
        log.info("vision worker replaced", pid=worker.pid)

    def _abandon_if_none_left(self) -> None:
        if not self._workers and not self._coming and not self._stopping:
            self._abandon_queued(WorkerLost("no vision worker left (replacements could not load their models)"))

    def _abandon(self, workers: list[_Worker], error: WorkerLost) -> None:
        """Fail the jobs of these workers (and, at stop, every queued one); their blocks are free again."""
        for worker in workers:
            job, worker.job = worker.job, None
            if job is not None:
                self._fail(job, error)
            if not worker.ready.done():
                worker.ready.cancel()
        if self._stopping:
            self._abandon_queued(error)

    def _abandon_queued(self, error: WorkerLost) -> None:
        queues, self._queues = self._queues, OrderedDict()
        for job in itertools.chain.from_iterable(queues.values()):
            self._fail(job, error)

    def _fail(self, job: _Job, error: WorkerLost) -> None:
        self._frames.release(job.key, job.block)
        if not job.future.done():
            job.future.set_exception(error)

    def _end(self, processes: list[BaseProcess]) -> None:
        """On a thread: SIGTERM, a short grace, then SIGKILL; never hangs."""
        with self._spawn_lock:
            started = [p for p in processes if p.pid is not None]
        for process in started:
            process.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for process in started:
            process.join(max(deadline - time.monotonic(), 0.0))
        for process in started:
            if process.exitcode is None:
                process.kill()
                process.join(1.0)
