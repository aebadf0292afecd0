"""The daemon's health loops: the systemd watchdog, the status line, the stats message, the batch verdict.

``Daemon`` wires the stages; this module judges whether they do their job.
The watchdog is pinged only while every running camera's analysis moves and
there is a vision worker to recognise with (a daemon that only looks alive
is worse than one systemd restarts). The status line goes to systemd and the
log; the stats message is the /metrics figures as one JSON payload for the
outputs (MQTT publishes it on ``<prefix>/<node>/stats``). The views here
(``stuck_cameras``, ``vision_trouble``, ``status_line``) are public so that
tests and /readyz read the same judgement the watchdog acts on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Sequence
from typing import Any

import structlog

from face01d.errors import ExitCode
from face01d.metrics import Metrics
from face01d.pipeline import CameraPipeline, Progress, analysis_stuck
from face01d.sinks.outputs import Outputs
from face01d.systemd import SystemdNotifier
from face01d.throttle import Throttle
from face01d.workers import VisionWorkers

log = structlog.get_logger(__name__)

STATUS_INTERVAL_S = 30.0  # status log / systemd STATUS when no watchdog asks for more
OUTAGE_LOG_EVERY_S = 60.0  # while recognition is unavailable (no vision worker): one error line per this


class Supervisor:
    """Watches the cameras and the workers; owns the status and stats loops (the daemon runs them as tasks)."""

    def __init__(self, notifier: SystemdNotifier, workers: VisionWorkers, metrics: Metrics) -> None:
        self._notifier = notifier
        self._workers = workers
        self._metrics = metrics
        self._pipelines: Sequence[CameraPipeline] = ()
        self._progress: dict[str, Progress] = {}  # each camera's at the last watchdog check
        self._outage_log = Throttle(OUTAGE_LOG_EVERY_S)

    def watch(self, pipelines: Sequence[CameraPipeline]) -> None:
        """The cameras to judge (known once the gallery is loaded and the pipelines built)."""
        self._pipelines = pipelines

    def loops(self, outputs: Outputs, stats_interval_s: float) -> dict[str, Coroutine[Any, Any, None]]:
        """The loops to run while the daemon runs, by task name (no stats loop at an interval of 0)."""
        loops = {"status": self.status_loop()}
        if stats_interval_s > 0:
            loops["stats"] = self.stats_loop(stats_interval_s, outputs)
        return loops

    # --- the views ---------------------------------------------------------------------

    def vision_trouble(self, restart_helps_only: bool = False) -> str | None:
        """Why nobody can be recognised now (a worker pool without workers), or None.

        ``restart_helps_only``: only pools a restart of this process could mend (the watchdog's view:
        restarting a node every minute cannot bring remote workers back).
        """
        reasons = [health.reason for health in self._workers.health().values()
                   if health.reason is not None and (health.restart_helps or not restart_helps_only)]
        return "; ".join(reasons) or None

    def stuck_cameras(self) -> list[str]:
        """Cameras that had frames to analyse since the last check but analysed none (see ``analysis_stuck``).

        Each call is a check: it records every camera's progress for the next one.
        """
        stuck = []
        for pipeline in self._pipelines:
            now = pipeline.progress()
            if analysis_stuck(self._progress.get(pipeline.name), now):
                stuck.append(pipeline.name)
            self._progress[pipeline.name] = now
        return stuck

    def status_line(self) -> str:
        parts = []
        for pipeline in self._pipelines:
            stats = pipeline.stats()
            parts.append(f"{pipeline.name}: {stats['frames_read']} read, {stats['analysed']} analysed, "
                         f"{stats['frames_dropped']} dropped")
        if (trouble := self.vision_trouble()) is not None:
            parts.append(trouble)
        return "; ".join(parts) or "no cameras"

    # --- the loops ---------------------------------------------------------------------

    async def status_loop(self) -> None:
        """The watchdog at systemd's pace (at most STATUS_INTERVAL_S), the status line every STATUS_INTERVAL_S."""
        interval = min(self._notifier.watchdog_interval() or STATUS_INTERVAL_S, STATUS_INTERVAL_S)
        last_status = 0.0
        while True:
            self.watchdog()
            if time.monotonic() - last_status >= STATUS_INTERVAL_S:
                self._notifier.notify(STATUS=self.status_line())
                log.info("status", cameras={p.name: p.stats() for p in self._pipelines})
                last_status = time.monotonic()
            await asyncio.sleep(interval)

    async def stats_loop(self, interval: float, outputs: Outputs) -> None:
        """The /metrics figures as one JSON message to the outputs, every ``interval`` seconds."""
        while True:
            await asyncio.sleep(interval)
            try:
                outputs.stats(self._metrics.payload())
            except Exception:  # one bad reading must not end the stats for good
                log.exception("stats publish failed")

    def watchdog(self) -> None:
        """Ping systemd's watchdog only while the daemon does its job: cameras are analysed, and there is a
        vision worker to recognise with. If this lasts, systemd restarts us: better than a daemon that only
        looks alive (a pool that cannot replace its workers goes on trying meanwhile). Remote workers are
        not ours: their absence shows on /readyz, never here."""
        stuck = self.stuck_cameras()
        trouble = self.vision_trouble(restart_helps_only=True)
        if stuck:
            log.warning("watchdog not pinged: camera analysis is stuck", cameras=stuck)
        if trouble is None:
            self._outage_log.reset()
        elif self._outage_log.due():
            log.error("recognition unavailable: watchdog not pinged", reason=trouble,
                      workers={pool: health.as_dict() for pool, health in self._workers.health().items()})
        if not stuck and trouble is None:
            self._notifier.notify(WATCHDOG=1)


def batch_exit_code(pipelines: Sequence[CameraPipeline], crashed: Sequence[str] = ()) -> ExitCode:
    """``run --once`` (batch work): 4 when a camera failed (a video file that could not be read to its
    end, or a camera whose task ended with an exception: ``crashed``) or when its results are incomplete
    (tracks ended undecided because their looks were lost); else 0."""
    failed = [p.name for p in pipelines if p.camera.stats.failed] + list(crashed)
    if failed:
        log.error("some cameras failed", cameras=sorted(set(failed)))
        return ExitCode.INPUT
    undecided = {p.name: p.namer.tracks_undecided for p in pipelines if p.namer.tracks_undecided}
    if undecided:
        log.error("tracks left undecided: their looks could not be encoded", tracks=undecided,
                  looks_lost={p.name: p.namer.looks_lost for p in pipelines})
        return ExitCode.INPUT
    return ExitCode.OK
