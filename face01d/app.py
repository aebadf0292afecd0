"""The daemon: wires cameras, recognition and sinks, and shuts them down in order.

It only wires and supervises: each camera's pipeline runs its own frames and
presence timer (pipeline.py), the supervisor its health loops (supervisor.py),
the factories build the outputs (sinks/factory.py) and the optional parts,
HTTP server, enrollment and live view (parts.py). Tests and tools read the
daemon through its public views (``http_port``, ``pipelines``, ``recognizer``,
``figures()``...), never its private state.

Signals only set state (uvicorn's pattern): SIGTERM/SIGINT set ``stopping``,
SIGHUP schedules a gallery reload. Shutdown then runs stage by stage, each
with its own timeout: stop capture → finish in-flight recognition → flush
events, snapshots and MQTT (which publishes ``offline``) → release the lock.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

import structlog
import uvloop

from face01d import native_stderr
from face01d.config.models import CameraConfig, CameraKind, Config
from face01d.errors import ExitCode, Face01dError
from face01d.gallery.model import Gallery
from face01d.gallery.watch import watch_gallery
from face01d.galleryshare.node import GalleryShare
from face01d.http import Readiness
from face01d.liveview import LiveView
from face01d.lock import InstanceLock, default_lock_dir, lock_path_for, usb_device_key
from face01d.metrics import Figures, Metrics
from face01d.parts import make_parts
from face01d.pipeline import CameraPipeline
from face01d.recognition.keeper import GalleryKeeper
from face01d.recognition.recognizer import Recognizer
from face01d.remote.node import remote_stats
from face01d.shutdown import stage
from face01d.sinks.factory import make_outputs
from face01d.sinks.mqtt import MqttSink
from face01d.sinks.outputs import Outputs
from face01d.sinks.snapshots import SnapshotWriter
from face01d.supervisor import Supervisor, batch_exit_code
from face01d.systemd import SystemdNotifier
from face01d.web import WebPage
from face01d.workers import VisionSettings, VisionWorkers, make_workers

log = structlog.get_logger(__name__)

GALLERY_PROGRESS_GRACE_US = 60_000_000  # each gallery image extends systemd's start timeout by this
# Every frame crosses threads four times (camera thread → loop → detection thread → loop), and a thread
# coming back from OpenCV or mediapipe waits for the GIL up to this long behind one running Python.
# Five 1080p30 cameras on two cores, a detection thread each: 8.4 % of the worst camera's frames went
# undetected at CPython's 5 ms, 2.0 % at 1 ms.
GIL_SWITCH_INTERVAL_S = 0.001


class StartupAbandoned(Exception):
    """A stop signal arrived before the daemon had finished starting."""


def run_daemon(config: Config, config_path: Path | None, *, once: bool = False, stdout_events: bool = False) -> int:
    """Run until a signal (or, with ``once``, until every camera ended); the exit code."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    daemon = Daemon(config, config_path, once=once, stdout_events=stdout_events)
    return uvloop.run(daemon.run())


class Daemon:
    def __init__(self, config: Config, config_path: Path | None, *, once: bool, stdout_events: bool) -> None:
        self.config = config
        self.config_path = config_path
        self.once = once
        self.stopping = asyncio.Event()
        self.notifier = SystemdNotifier()
        self._stdout_events = stdout_events
        self._lock = InstanceLock()
        settings = VisionSettings(config.detector, config.gallery.landmarks, config.gallery.jitters)
        cameras = sum(camera.enabled for camera in config.cameras)
        self._workers: VisionWorkers = make_workers(config.workers, settings, config.mqtt, config.daemon.node_id,
                                                    cameras)
        self._pipelines: list[CameraPipeline] = []
        self._outputs = Outputs([])  # replaced once the gallery's people are known
        self._mqtt: MqttSink | None = None  # read for the metrics only
        self._snapshots: SnapshotWriter | None = None  # read for the metrics only
        self._recognizer: Recognizer | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._camera_tasks: list[asyncio.Task[None]] = []
        self._gallery = GalleryKeeper(config.gallery, self._gallery_progress)
        self._share = GalleryShare.from_config(config)  # None unless [gallery] publish or source = "broker"
        self._fatal: ExitCode | None = None
        self._metrics = Metrics(self.figures)
        self._supervisor = Supervisor(self.notifier, self._workers, self._metrics)
        self._readiness = Readiness([self._supervisor.vision_trouble])  # ready only with a worker to recognise
        self._parts = make_parts(config, workers=self._workers, recognizer=lambda: self._recognizer,
                                 reload=self._reload_now, share=self._share, metrics=self._metrics,
                                 readiness=self._readiness)

    async def run(self) -> int:
        self._acquire_locks()
        try:
            await self._start()
            await self._wait_until_done()
        except StartupAbandoned as reason:
            log.info("start-up abandoned", reason=str(reason))
        finally:
            await self._shutdown()
            self._lock.release()
        return self._exit_code()

    def _exit_code(self) -> int:
        """0; a fatal error's code; with ``--once`` (batch work) what ``batch_exit_code`` says."""
        if self._fatal is not None:
            return int(self._fatal)
        if not self.once:
            return int(ExitCode.OK)
        crashed = [task.get_name().removeprefix("camera:") for task in self._camera_tasks
                   if task.done() and not task.cancelled() and task.exception() is not None]
        return int(batch_exit_code(self._pipelines, crashed))

    # --- public views (read-only: for tests and tools) ---------------------------------

    @property
    def http_port(self) -> int | None:
        """The HTTP server's bound port once it answers; None before, or without a server."""
        return self._parts.port

    @property
    def pipelines(self) -> Sequence[CameraPipeline]:
        """The cameras' pipelines (none until the gallery is loaded)."""
        return tuple(self._pipelines)

    @property
    def recognizer(self) -> Recognizer | None:
        """The recognizer with the gallery in use now; None while the first gallery loads."""
        return self._recognizer

    @property
    def readiness(self) -> Readiness:
        return self._readiness

    @property
    def metrics(self) -> Metrics:
        return self._metrics

    @property
    def supervisor(self) -> Supervisor:
        return self._supervisor

    @property
    def live_view(self) -> LiveView | None:
        return self._parts.live_view

    @property
    def web_page(self) -> WebPage | None:
        """The page's parts ([http] with a token); the page's forms call face01d.web.actions with it."""
        return self._parts.web

    # --- start-up -----------------------------------------------------------------

    def _acquire_locks(self) -> None:
        lock_dir = default_lock_dir()
        config_key = str(self.config_path.resolve()) if self.config_path else "defaults"
        config_lock = self.config.daemon.lock_file or lock_path_for(config_key, lock_dir)
        self._lock.acquire(config_lock, f"config {config_key}")
        for camera in self.config.cameras:
            if camera.enabled and camera.kind is CameraKind.USB:
                device = usb_device_key(camera.source)
                self._lock.acquire(lock_path_for(device, lock_dir), f"camera {camera.name} ({device})")

    async def _start(self) -> None:
        self._install_signal_handlers()  # a SIGHUP/SIGTERM during a long gallery build is not fatal
        await self._parts.start()  # first: /healthz answers and /readyz says why not yet
        gallery, _ = await asyncio.gather(self._first_gallery(), self._workers.start())  # both take seconds
        self._recognizer = Recognizer(self.config.detector, self.config.gallery, gallery)
        await self._start_outputs()
        if self._share is not None:  # new versions are swapped in as reloads are; a publisher publishes
            await self._share.start(self._install_gallery, gallery, self._reload_now)
        cameras = [camera for camera in self.config.cameras if camera.enabled]
        self._pipelines = [self._pipeline(camera) for camera in cameras]
        self._supervisor.watch(self._pipelines)
        self.notifier.notify(READY=1, STATUS=f"watching {len(cameras)} camera(s)")
        log.info("daemon started", node=self.config.daemon.node_id, cameras=[c.name for c in cameras],
                 people=len(self._recognizer.gallery.people), workers=self.config.workers.model_dump())

    def figures(self) -> Figures:
        """What /metrics and the stats message show, read now."""
        gallery = self._recognizer.gallery if self._recognizer is not None else None
        return Figures(
            cameras={p.name: p.stats() for p in self._pipelines},
            mqtt=self._mqtt.stats if self._mqtt is not None else None,
            snapshots=self._snapshots.stats if self._snapshots is not None else None,
            gallery_people=len(gallery.people) if gallery is not None else None,
            gallery_encodings=len(gallery.encodings) if gallery is not None else None,
            gallery_share=self._share.stats if self._share is not None else None,
            unknown_crops=self._parts.unknown_crops.stats if self._parts.unknown_crops is not None else None,
            preview_viewers=self._parts.live_view.viewers if self._parts.live_view is not None else None,
            http_shed=dict(self._parts.http.guard.shed) if self._parts.http is not None else None,
            output_failures=self._outputs.failures,
            unattributed_decoder_errors=native_stderr.unattributed_decoder_errors(),
            vision={pool: health.as_dict() for pool, health in self._workers.health().items()},
            remote_encode=remote_stats(self._workers),
        )

    async def _first_gallery(self) -> Gallery:
        """The gallery; once a stop is asked for, half of shutdown_timeout_s for the build to end between
        two images, then StartupAbandoned: a read that hangs (a hung NFS mount) is left behind on the
        keeper's daemon thread, it does not hold SIGTERM."""
        load = asyncio.ensure_future(self._load_gallery())
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({load, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not load.done():
                await asyncio.wait({load}, timeout=self.config.daemon.shutdown_timeout_s / 2)
        finally:
            stop.cancel()
            abandoned = not load.done()
            if abandoned:
                load.cancel()
        if abandoned:
            raise StartupAbandoned("stop requested while the gallery was being loaded")
        return load.result()

    async def _load_gallery(self) -> Gallery:
        """The folder's gallery, or with source = "broker" the last good copy or the broker's."""
        if self._share is not None and self._share.is_source:
            return await self._share.first_gallery(self.stopping)
        return await self._gallery.load()

    def _gallery_progress(self, done: int, total: int) -> None:
        """From the gallery thread: keep systemd's start-up timeout from killing a long build,
        and abandon the build between two images once a stop was asked for."""
        if self.stopping.is_set():
            raise StartupAbandoned("stop requested while the gallery was being encoded")
        self.notifier.notify(EXTEND_TIMEOUT_USEC=GALLERY_PROGRESS_GRACE_US, STATUS=f"encoding gallery {done}/{total}")

    async def _start_outputs(self) -> None:
        assert self._recognizer is not None
        built = make_outputs(self.config, self._recognizer.gallery.people, self._metrics,
                             stdout_events=self._stdout_events, extra=self._parts.make_sinks(self.config))
        self._outputs, self._mqtt, self._snapshots = built.outputs, built.mqtt, built.snapshots
        await self._outputs.start()

    def _pipeline(self, camera: CameraConfig) -> CameraPipeline:
        assert self._recognizer is not None
        return CameraPipeline(
            camera,
            config=self.config,
            recognizer=self._recognizer,
            workers=self._workers,
            outputs=self._outputs,
        )

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self.request_stop, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)

    # --- running ------------------------------------------------------------------

    def request_stop(self, reason: str = "request") -> None:
        if not self.stopping.is_set():
            log.info("stopping", reason=reason)
            self.notifier.notify(STOPPING=1)
        self._readiness.set_stopping(f"stopping ({reason})")
        self.stopping.set()

    def request_reload(self) -> None:
        if self._share is not None and self._share.is_source:
            log.info("gallery reload ignored: the gallery comes from the broker")
            return
        if self._recognizer is None:
            log.info("gallery reload ignored: still loading")
            return
        self._spawn(self._gallery.reload(self._install_gallery), "reload-gallery")

    async def _reload_now(self) -> None:
        """For ``POST``/``DELETE /gallery``: answered once the new gallery is installed."""
        if self._recognizer is not None:  # still loading: the first load reads the folder anyway
            await self._gallery.reload(self._install_gallery)

    def _install_gallery(self, gallery: Gallery) -> None:
        assert self._recognizer is not None
        self._recognizer.replace_gallery(gallery)
        self._outputs.people_changed(list(gallery.people))
        if self._share is not None:
            self._share.installed(gallery)

    async def _wait_until_done(self) -> None:
        cameras = [asyncio.create_task(p.run(), name=f"camera:{p.name}") for p in self._pipelines]
        for task in cameras:
            task.add_done_callback(self._task_ended)
        self._camera_tasks = cameras
        if self.config.enrollment.watch_gallery and self.config.gallery.source == "folder":  # by hand, `gallery add`
            self._spawn(watch_gallery(self.config.gallery.path, self.request_reload, self.stopping), "watch-gallery")
        for name, loop in self._supervisor.loops(self._outputs, self.config.http.stats_interval_s).items():
            self._spawn(loop, name)
        if not self.stopping.is_set():  # a stop asked for during start-up is not undone
            self._readiness.set_ready()
        stop = asyncio.create_task(self.stopping.wait())
        if self.once:
            all_ended = asyncio.gather(*cameras, return_exceptions=True)
            await asyncio.wait([stop, all_ended], return_when=asyncio.FIRST_COMPLETED)
            if not self.stopping.is_set():
                log.info("every camera has ended", once=True)
        else:
            await stop

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(self._task_ended)

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        """No task dies silently; face01d's own errors (a model that will not load) stop the daemon."""
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        log.error("task failed", task=task.get_name(), error=repr(error), exc_info=error)
        if isinstance(error, Face01dError):
            self._fatal = error.exit_code
            self.request_stop(f"{task.get_name()} failed")

    # --- shutdown -----------------------------------------------------------------

    async def _shutdown(self) -> None:
        if not self.stopping.is_set():  # else request_stop said why
            self._readiness.set_stopping()
        timeout = self.config.daemon.shutdown_timeout_s
        await stage("capture", self._stop_cameras(), timeout)
        for task in list(self._background):
            task.cancel()
        await self._outputs.stop(timeout)  # each output within its own timeout
        if self._share is not None:
            await stage("gallery-share", self._share.stop(timeout), timeout)
        await stage("workers", self._workers.stop(), timeout)
        await self._parts.stop(timeout)  # last: /readyz says "stopping" all through the shutdown
        self._gallery.close()
        for pipeline in self._pipelines:
            log.info("camera report", camera=pipeline.name, **pipeline.stats())
        log.info("stopped", node=self.config.daemon.node_id,
                 snapshots=self._snapshots.stats if self._snapshots is not None else None)

    async def _stop_cameras(self) -> None:
        await asyncio.gather(*(pipeline.stop_capture() for pipeline in self._pipelines))
        await asyncio.gather(*self._camera_tasks, return_exceptions=True)
