"""The daemon: wires cameras, recognition and sinks, and shuts them down in order.

Signals only set state (uvicorn's pattern): SIGTERM/SIGINT set ``stopping``,
SIGHUP schedules a gallery reload. Shutdown then runs stage by stage, each
with its own timeout: stop capture → finish in-flight recognition → flush
events, snapshots and MQTT (which publishes ``offline``) → release the lock.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import structlog
import uvloop
from starlette.routing import BaseRoute

from face01d import native_stderr
from face01d.config.models import CameraConfig, CameraKind, Config
from face01d.enrollment.routes import EnrollmentApi, enrollment_routes
from face01d.enrollment.unknown import UnknownCrops
from face01d.errors import ExitCode, Face01dError
from face01d.gallery.model import Gallery
from face01d.gallery.watch import watch_gallery
from face01d.http import HttpServer, Readiness, make_app
from face01d.liveview import LiveView, preview_routes
from face01d.lock import InstanceLock, default_lock_dir, lock_path_for, usb_device_key
from face01d.metrics import Figures, Metrics
from face01d.pipeline import CameraPipeline, Progress, analysis_stuck
from face01d.recognition.keeper import GalleryKeeper
from face01d.recognition.recognizer import Recognizer
from face01d.shutdown import stage
from face01d.sinks.base import Sink
from face01d.sinks.factory import make_outputs
from face01d.sinks.mqtt import MqttSink
from face01d.sinks.outputs import Outputs
from face01d.sinks.snapshots import SnapshotWriter
from face01d.systemd import SystemdNotifier
from face01d.workers import VisionSettings, VisionWorkers, make_workers

log = structlog.get_logger(__name__)

EXPIRE_INTERVAL_S = 1.0  # how often presence timeouts are checked
STATUS_INTERVAL_S = 30.0  # status log / systemd STATUS when no watchdog asks for more
GALLERY_PROGRESS_GRACE_US = 60_000_000  # each gallery image extends systemd's start timeout by this


class StartupAbandoned(Exception):
    """A stop signal arrived before the daemon had finished starting."""


def run_daemon(config: Config, config_path: Path | None, *, once: bool = False, stdout_events: bool = False) -> int:
    """Run until a signal (or, with ``once``, until every camera ended); the exit code."""
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
        self._workers: VisionWorkers = make_workers(config.workers, settings)
        self._pipelines: list[CameraPipeline] = []
        self._outputs = Outputs([])  # replaced once the gallery's people are known
        self._mqtt: MqttSink | None = None  # read for the metrics only
        self._snapshots: SnapshotWriter | None = None  # read for the metrics only
        self._recognizer: Recognizer | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._camera_tasks: list[asyncio.Task[None]] = []
        self._gallery = GalleryKeeper(config.gallery, self._gallery_progress)
        self._fatal: ExitCode | None = None
        self._progress: dict[str, Progress] = {}  # each camera's at the last watchdog check
        self._metrics = Metrics(self._figures)
        self._readiness = Readiness()
        self._http: HttpServer | None = None
        self._live_view = self._make_live_view()  # before the server: its routes are the server's
        self._enrollment = self._make_enrollment_api()
        self._unknown_crops: UnknownCrops | None = None  # read for the metrics only

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
        """0; a fatal error's code; with ``--once`` (batch work) 4 when a camera failed: a video
        file that could not be read to its end, or a camera whose task ended with an exception."""
        if self._fatal is not None:
            return int(self._fatal)
        failed = [p.name for p in self._pipelines if p.camera.stats.failed] + [
            task.get_name().removeprefix("camera:") for task in self._camera_tasks
            if task.done() and not task.cancelled() and task.exception() is not None]
        if self.once and failed:
            log.error("some cameras failed", cameras=sorted(set(failed)))
            return int(ExitCode.INPUT)
        return int(ExitCode.OK)

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
        await self._start_http()  # first: /healthz answers and /readyz says why not yet
        gallery, _ = await asyncio.gather(self._gallery.load(), self._workers.start())  # both take seconds
        self._recognizer = Recognizer(self.config.detector, self.config.gallery, gallery)
        await self._start_outputs()
        cameras = [camera for camera in self.config.cameras if camera.enabled]
        self._pipelines = [self._pipeline(camera) for camera in cameras]
        self.notifier.notify(READY=1, STATUS=f"watching {len(cameras)} camera(s)")
        log.info("daemon started", node=self.config.daemon.node_id, cameras=[c.name for c in cameras],
                 people=len(self._recognizer.gallery.people), workers=self.config.workers.model_dump())

    async def _start_http(self) -> None:
        http = self.config.http
        if http.enabled:
            token = http.token.get_secret_value() if http.token is not None else None
            app = make_app(self._metrics, self._readiness, token, extra=self._extra_routes())
            self._http = HttpServer(app, http.host, http.port)
            await self._http.start()

    def _figures(self) -> Figures:
        gallery = self._recognizer.gallery if self._recognizer is not None else None
        return Figures(
            cameras={p.name: p.stats() for p in self._pipelines},
            mqtt=self._mqtt.stats if self._mqtt is not None else None,
            snapshots=self._snapshots.stats if self._snapshots is not None else None,
            gallery_people=len(gallery.people) if gallery is not None else None,
            gallery_encodings=len(gallery.encodings) if gallery is not None else None,
            unknown_crops=self._unknown_crops.stats if self._unknown_crops is not None else None,
            preview_viewers=self._live_view.viewers if self._live_view is not None else None,
            output_failures=self._outputs.failures,
            unattributed_decoder_errors=native_stderr.unattributed_decoder_errors(),
        )

    def _gallery_progress(self, done: int, total: int) -> None:
        """From the gallery thread: keep systemd's start-up timeout from killing a long build,
        and abandon the build between two images once a stop was asked for."""
        if self.stopping.is_set():
            raise StartupAbandoned("stop requested while the gallery was being encoded")
        self.notifier.notify(EXTEND_TIMEOUT_USEC=GALLERY_PROGRESS_GRACE_US, STATUS=f"encoding gallery {done}/{total}")

    async def _start_outputs(self) -> None:
        assert self._recognizer is not None
        built = make_outputs(self.config, self._recognizer.gallery.people, self._metrics,
                             stdout_events=self._stdout_events, extra=self._extra_sinks())
        self._outputs, self._mqtt, self._snapshots = built.outputs, built.mqtt, built.snapshots
        await self._outputs.start()

    def _extra_sinks(self) -> list[Sink]:
        """Outputs of other stages: the live view, the unknown-face crops."""
        sinks: list[Sink] = [self._live_view] if self._live_view is not None else []
        if self.config.enrollment.keep_unknown:
            self._unknown_crops = UnknownCrops.from_config(self.config)
            sinks.append(self._unknown_crops)
        return sinks

    def _extra_routes(self) -> list[BaseRoute]:
        """Routes of other stages on the HTTP server, behind its token."""
        routes = preview_routes(self._live_view) if self._live_view is not None else []
        return routes + (enrollment_routes(self._enrollment) if self._enrollment is not None else [])

    def _make_enrollment_api(self) -> EnrollmentApi | None:
        if not self.config.http.enabled:
            return None
        return EnrollmentApi(self._workers, lambda: self._recognizer, self.config.gallery,
                             self.config.enrollment.max_upload_mb, self._reload_now)

    def _make_live_view(self) -> LiveView | None:
        if not self.config.preview.enabled:
            return None
        return LiveView(self.config.preview, self._camera_names(), self._thumbnail)

    def _camera_names(self) -> list[str]:
        return [camera.name for camera in self.config.cameras if camera.enabled]

    def _thumbnail(self, name: str) -> Path | None:
        """A person's ``NAME_default`` image, from the gallery loaded now (called from render threads)."""
        return self._recognizer.gallery.display_images.get(name) if self._recognizer is not None else None

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

    async def _wait_until_done(self) -> None:
        cameras = [asyncio.create_task(p.run(), name=f"camera:{p.name}") for p in self._pipelines]
        for task in cameras:
            task.add_done_callback(self._task_ended)
        self._camera_tasks = cameras
        self._spawn(self._expire_loop(), "expire")
        if self.config.enrollment.watch_gallery:  # a gallery edited by hand or by `face01d gallery add`
            self._spawn(watch_gallery(self.config.gallery.path, self.request_reload, self.stopping), "watch-gallery")
        self._spawn(self._status_loop(), "status")
        if self.config.http.stats_interval_s > 0:
            self._spawn(self._stats_loop(self.config.http.stats_interval_s), "stats")
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

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(EXPIRE_INTERVAL_S)
            now = time.time()
            for pipeline in self._pipelines:
                try:
                    pipeline.expire(now)
                except Exception:  # one camera's bug must not end "left" events for all
                    log.exception("presence expiry failed", camera=pipeline.name)

    async def _status_loop(self) -> None:
        interval = min(self.notifier.watchdog_interval() or STATUS_INTERVAL_S, STATUS_INTERVAL_S)
        last_status = 0.0
        while True:
            if not (stuck := self._stuck_cameras()):
                self.notifier.notify(WATCHDOG=1)
            else:  # systemd restarts us if this lasts: better than a daemon that only looks alive
                log.warning("watchdog not pinged: camera analysis is stuck", cameras=stuck)
            if time.monotonic() - last_status >= STATUS_INTERVAL_S:
                self.notifier.notify(STATUS=self._status_line())
                log.info("status", cameras={p.name: p.stats() for p in self._pipelines})
                last_status = time.monotonic()
            await asyncio.sleep(interval)

    async def _stats_loop(self, interval: float) -> None:
        """The /metrics figures as one JSON message (MQTT publishes it on ``<prefix>/<node>/stats``)."""
        while True:
            await asyncio.sleep(interval)
            try:
                self._outputs.stats(self._metrics.payload())
            except Exception:  # one bad reading must not end the stats for good
                log.exception("stats publish failed")

    def _stuck_cameras(self) -> list[str]:
        """Cameras that had frames to analyse since the last check but analysed none (see ``analysis_stuck``)."""
        stuck = []
        for pipeline in self._pipelines:
            now = pipeline.progress()
            if analysis_stuck(self._progress.get(pipeline.name), now):
                stuck.append(pipeline.name)
            self._progress[pipeline.name] = now
        return stuck

    def _status_line(self) -> str:
        parts = []
        for pipeline in self._pipelines:
            stats = pipeline.stats()
            parts.append(f"{pipeline.name}: {stats['frames_read']} read, {stats['analysed']} analysed, "
                         f"{stats['frames_dropped']} dropped")
        return "; ".join(parts) or "no cameras"

    # --- shutdown -----------------------------------------------------------------

    async def _shutdown(self) -> None:
        if not self.stopping.is_set():  # else request_stop said why
            self._readiness.set_stopping()
        timeout = self.config.daemon.shutdown_timeout_s
        await stage("capture", self._stop_cameras(), timeout)
        for task in list(self._background):
            task.cancel()
        await self._outputs.stop(timeout)  # each output within its own timeout
        await stage("workers", self._workers.stop(), timeout)
        if self._http is not None:  # last: /readyz says "stopping" all through the shutdown
            await stage("http", self._http.stop(timeout * 0.9), timeout)
        if self._enrollment is not None:
            self._enrollment.close()
        self._gallery.close()
        for pipeline in self._pipelines:
            log.info("camera report", camera=pipeline.name, **pipeline.stats())
        log.info("stopped", node=self.config.daemon.node_id,
                 snapshots=self._snapshots.stats if self._snapshots is not None else None)

    async def _stop_cameras(self) -> None:
        await asyncio.gather(*(pipeline.stop_capture() for pipeline in self._pipelines))
        await asyncio.gather(*self._camera_tasks, return_exceptions=True)
