"""The daemon's figures, read when asked: Prometheus exposition and the JSON stats message.

Nothing is copied on the hot path except the event counter: cameras, sinks and
the gallery keep their own counters (``CameraPipeline.stats()``,
``MqttSink.stats``, ``SnapshotWriter.stats``), and a custom collector reads
them at scrape time, so a scrape is exact and costs nothing between scrapes.
The registry is private: no process-global state, several daemons (tests) side by side.

Latency is shown twice: p50/p99 gauges of the recent window (what the status
line shows), and ``face01d_stage_latency_seconds``, a histogram since start
built from the counts that ``face01d.stats.Percentiles`` keeps, which
Prometheus can rate, aggregate across cameras and take its own quantiles of.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from face01d.events.model import Event
from face01d.stats import LatencyHistogram

PREFIX = "face01d"
FPS_WINDOW_S = 60.0  # analysed fps: averaged over about this long
CAMERA_COUNTERS = {  # pipeline.stats() key → (metric, help)
    "frames_read": ("frames_read", "Frames read from the camera"),
    "analysed": ("frames_analysed", "Frames analysed"),
    "frames_dropped": ("frames_dropped", "Frames replaced in the slot before analysis took them"),
    "frames_skipped": ("frames_skipped", "Frames held back by frame_skip / fps_limit"),
    "analysis_failed": ("frames_failed", "Frames whose analysis failed"),
    "reconnects": ("reconnects", "Camera reconnections"),
    "decoder_errors": ("decoder_errors", "FFmpeg decode errors seen while reading"),
    "hung_reads": ("hung_reads", "Reads abandoned because they never returned"),
    "looks_lost": ("looks_lost", "Looks (face encodings) lost: the vision worker hung, died or was missing"),
    "tracks_undecided": ("tracks_undecided", "Tracks that ended without a verdict after losing looks"),
}
HTTP_SHED_REASONS = ("refused", "head", "body", "send")  # face01d.http.guard's reasons, each shown from start
FRAME_TO_RESULT = "frame_to_result"  # the stage name of stats()["latency_ms"]: frame read → tracks updated
FRAME_TO_EVENT = "frame_to_event"  # frame read → event dispatched, observed by Metrics.event
MS_PER_S = 1000.0


@dataclass(frozen=True)
class Figures:
    """One reading of the daemon: what a scrape and a stats message show."""

    cameras: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # name → CameraPipeline.stats()
    mqtt: Mapping[str, Any] | None = None  # MqttSink.stats, None without MQTT
    snapshots: Mapping[str, Any] | None = None  # SnapshotWriter.stats, None without snapshots
    gallery_people: int | None = None
    gallery_encodings: int | None = None
    vision: Mapping[str, Mapping[str, Any]] | None = None  # pool → PoolHealth.as_dict(), None before start
    gallery_share: Mapping[str, Any] | None = None  # GalleryShare.stats, None when the gallery is not shared
    remote_encode: Mapping[str, Any] | None = None  # RemoteEncoder.stats, None unless encode = "remote"
    unknown_crops: Mapping[str, Any] | None = None  # UnknownCrops.stats, None when not kept
    preview_viewers: Mapping[str, int] | None = None  # camera → open previews, None without the live view
    http_shed: Mapping[str, int] | None = None  # ConnectionGuard.shed (reason → clients), None without HTTP
    output_failures: int = 0  # news an output raised on (Outputs.failures)
    unattributed_decoder_errors: int = 0  # FFmpeg errors no single camera could be charged with


FiguresSource = Callable[[], Figures]


class RateMeter:
    """Per-key rate of a growing count, over the last ``window`` seconds of readings."""

    def __init__(self, window: float = FPS_WINDOW_S) -> None:
        self._window = window
        self._samples: dict[str, deque[tuple[float, int]]] = {}

    def rate(self, key: str, count: int, now: float) -> float:
        samples = self._samples.setdefault(key, deque())
        samples.append((now, count))
        while len(samples) > 2 and now - samples[1][0] >= self._window:
            samples.popleft()
        (t0, c0), (t1, c1) = samples[0], samples[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0


class Metrics:
    """The registry, the event counter, and the reading of everything else."""

    def __init__(self, source: FiguresSource) -> None:
        self._source = source
        self._fps = RateMeter()
        self.registry = CollectorRegistry(auto_describe=True)
        self._events = Counter(f"{PREFIX}_events", "Events dispatched", ["camera", "type"], registry=self.registry)
        self._event_counts: dict[str, int] = {}
        self.event_latency: dict[str, LatencyHistogram] = {}  # camera → frame read → event dispatched
        self.registry.register(_FiguresCollector(self))

    def event(self, event: Event, read_mono: float | None = None) -> None:
        """At dispatch: one event out; ``read_mono`` is the ``time.monotonic()`` its deciding frame was read at.

        The one latency a user feels (walk in → light on), which no stage timer
        sees whole: it spans analysis, the decision and the dispatcher's queue.
        """
        self._events.labels(camera=event.camera, type=event.type.value).inc()
        self._event_counts[event.type.value] = self._event_counts.get(event.type.value, 0) + 1
        if read_mono is not None:
            histogram = self.event_latency.setdefault(event.camera, LatencyHistogram())
            histogram.add((time.monotonic() - read_mono) * MS_PER_S)

    def read(self) -> tuple[Figures, dict[str, float]]:
        """The figures now, with each camera's analysed fps."""
        figures = self._source()
        now = time.monotonic()
        fps = {name: self._fps.rate(name, int(stats.get("analysed", 0)), now) for name, stats in figures.cameras.items()}
        return figures, fps

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def payload(self) -> dict[str, Any]:
        """The JSON stats message: the same figures as /metrics."""
        figures, fps = self.read()
        return {
            "at": time.time(),
            "cameras": {name: {**_without_histograms(stats), "analysed_fps": round(fps[name], 2)}
                        for name, stats in figures.cameras.items()},
            "events": dict(self._event_counts),
            "mqtt": dict(figures.mqtt) if figures.mqtt is not None else None,
            "snapshots": dict(figures.snapshots) if figures.snapshots is not None else None,
            "vision": _copy(figures.vision),
            "remote_encode": _copy(figures.remote_encode),
            "gallery": {"people": figures.gallery_people, "encodings": figures.gallery_encodings,
                        **_shared_gallery(figures.gallery_share)},
            "outputs": {"failures": figures.output_failures, "unknown_crops": _copy(figures.unknown_crops),
                        "preview_viewers": _copy(figures.preview_viewers),
                        "unattributed_decoder_errors": figures.unattributed_decoder_errors},
            "http": {"shed": _copy(figures.http_shed)} if figures.http_shed is not None else None,
        }


class _FiguresCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Metric]:
        return []  # dynamic: nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        figures, fps = self._metrics.read()
        yield from _camera_metrics(figures.cameras, fps)
        yield _histograms(figures.cameras, self._metrics.event_latency)
        yield from _output_metrics(figures)
        yield from _vision_metrics(figures.vision)
        yield from _remote_metrics(figures.remote_encode)


def _camera_metrics(cameras: Mapping[str, Mapping[str, Any]], fps: Mapping[str, float]) -> Iterator[Metric]:
    for key, (name, text) in CAMERA_COUNTERS.items():
        family = CounterMetricFamily(f"{PREFIX}_camera_{name}", text, labels=["camera"])
        for camera, stats in cameras.items():
            family.add_metric([camera], float(stats.get(key) or 0))
        yield family
    gauges = {
        "online": ("Camera online (1) or not (0)", lambda s: float(bool(s.get("online")))),
        "tracks": ("Face tracks now", lambda s: float(s.get("tracks") or 0)),
    }
    for name, (text, value) in gauges.items():
        family = GaugeMetricFamily(f"{PREFIX}_camera_{name}", text, labels=["camera"])
        for camera, stats in cameras.items():
            family.add_metric([camera], value(stats))
        yield family
    rate = GaugeMetricFamily(f"{PREFIX}_camera_analysed_fps", "Frames analysed a second, lately", labels=["camera"])
    for camera, value in fps.items():
        rate.add_metric([camera], value)
    yield rate
    yield _latency(cameras)


def _latency(cameras: Mapping[str, Mapping[str, Any]]) -> Metric:
    """p50/p99 of the recent window, per stage; "frame_to_result" is frame read → tracks updated."""
    family = GaugeMetricFamily(f"{PREFIX}_stage_latency_ms", "Recent latency per stage (window percentiles)",
                               labels=["camera", "stage", "quantile"])
    for camera, stats in cameras.items():
        for stage, summary in _stages(stats).items():
            if summary:
                family.add_metric([camera, stage, "0.5"], summary["p50"])
                family.add_metric([camera, stage, "0.99"], summary["p99"])
    return family


def _stages(stats: Mapping[str, Any]) -> dict[str, Any]:
    """Stage → ``Percentiles.summary()`` (None before its first sample) of one camera's stats."""
    return {**(stats.get("stage_ms") or {}), FRAME_TO_RESULT: stats.get("latency_ms")}


def _histograms(cameras: Mapping[str, Mapping[str, Any]], events: Mapping[str, LatencyHistogram]) -> Metric:
    """Per camera and stage, since start, in seconds (Prometheus' unit), from the counts the stages keep."""
    family = HistogramMetricFamily(f"{PREFIX}_stage_latency_seconds", "Latency per stage since start",
                                   labels=["camera", "stage"])
    for camera, stats in cameras.items():
        for stage, summary in _stages(stats).items():
            if summary and summary.get("histogram"):
                _add_histogram(family, [camera, stage], summary["histogram"])
    for camera, histogram in list(events.items()):  # a copy: a scrape may run beside the dispatcher
        _add_histogram(family, [camera, FRAME_TO_EVENT], histogram.summary())
    return family


def _add_histogram(family: HistogramMetricFamily, labels: list[str], histogram: Mapping[str, Any]) -> None:
    """One labelled histogram from ``LatencyHistogram.summary()`` (ms bounds → seconds)."""
    bounds = [floatToGoString(bound / MS_PER_S) for bound in histogram["bounds_ms"]] + ["+Inf"]
    buckets = [(bound, float(count)) for bound, count in zip(bounds, histogram["buckets"], strict=True)]
    family.add_metric(labels, buckets, histogram["sum_ms"] / MS_PER_S)


def _without_histograms(stats: Mapping[str, Any]) -> dict[str, Any]:
    """A camera's stats as the JSON stats message has always shown them: p50/p99/n, no bucket counts."""
    def trim(summary: Any) -> Any:
        return {k: v for k, v in summary.items() if k != "histogram"} if isinstance(summary, Mapping) else summary

    result = dict(stats)
    if "latency_ms" in result:
        result["latency_ms"] = trim(result["latency_ms"])
    if isinstance(result.get("stage_ms"), Mapping):
        result["stage_ms"] = {stage: trim(summary) for stage, summary in result["stage_ms"].items()}
    return result


def _output_metrics(figures: Figures) -> Iterator[Metric]:
    if figures.mqtt is not None:
        yield GaugeMetricFamily(f"{PREFIX}_mqtt_connected", "Connected to the MQTT broker",
                                value=float(bool(figures.mqtt.get("connected"))))
        yield GaugeMetricFamily(f"{PREFIX}_mqtt_outbox_events", "Events in the durable outbox",
                                value=float(figures.mqtt.get("outbox") or 0))
        yield GaugeMetricFamily(f"{PREFIX}_mqtt_queued_events", "Events queued in memory",
                                value=float(figures.mqtt.get("queued") or 0))
        yield CounterMetricFamily(f"{PREFIX}_mqtt_outbox_corrupt", "Corrupt outbox files moved aside at start",
                                  value=float(figures.mqtt.get("outbox_corrupt") or 0))
    if figures.snapshots is not None:
        yield _by_outcome("snapshots", "Snapshots by outcome", figures.snapshots,
                          ("written", "failed", "dropped", "frames_dropped"))
    if figures.gallery_people is not None:
        yield GaugeMetricFamily(f"{PREFIX}_gallery_people", "People in the gallery", value=figures.gallery_people)
        yield GaugeMetricFamily(f"{PREFIX}_gallery_encodings", "Encodings in the gallery",
                                value=float(figures.gallery_encodings or 0))
    if figures.gallery_share is not None:
        yield from _gallery_share(figures.gallery_share)
    yield from _other_outputs(figures)


def _shared_gallery(share: Mapping[str, Any] | None) -> dict[str, Any]:
    """A shared gallery's version and link in the stats message; nothing for a folder-only node."""
    return {} if share is None else {"version": share.get("version"), "share": dict(share)}


def _gallery_share(share: Mapping[str, Any]) -> Iterator[Metric]:
    """The shared gallery's version this node runs (-1: none yet) and the versions it refused."""
    version = share.get("version")
    yield GaugeMetricFamily(f"{PREFIX}_gallery_version", "Version of the shared gallery in use (-1: none yet)",
                            value=float(version if version is not None else -1))
    yield GaugeMetricFamily(f"{PREFIX}_gallery_share_connected", "The gallery's broker link is up",
                            value=float(bool(share.get("connected"))))
    if "refused" in share:
        yield CounterMetricFamily(f"{PREFIX}_gallery_versions_refused", "Shared gallery versions refused",
                                  value=float(share["refused"]))


def _other_outputs(figures: Figures) -> Iterator[Metric]:
    if figures.unknown_crops is not None:
        yield _by_outcome("unknown_crops", "Unknown faces' crops by outcome", figures.unknown_crops,
                          ("written", "failed", "dropped", "pruned"))
    if figures.preview_viewers is not None:
        viewers = GaugeMetricFamily(f"{PREFIX}_preview_viewers", "Open live views", labels=["camera"])
        for camera, count in figures.preview_viewers.items():
            viewers.add_metric([camera], float(count))
        yield viewers
    if figures.http_shed is not None:
        yield _by_outcome("http_clients_shed", "HTTP clients shed: refused past the cap, or too slow to send their "
                          "head or body or to read the answer", figures.http_shed, HTTP_SHED_REASONS,
                          label="reason")
    yield CounterMetricFamily(f"{PREFIX}_output_failures", "News an output failed on (logged once per kind)",
                              value=float(figures.output_failures))
    yield CounterMetricFamily(f"{PREFIX}_decoder_errors_unattributed",
                              "FFmpeg decode errors no single camera could be charged with",
                              value=float(figures.unattributed_decoder_errors))


def _vision_metrics(pools: Mapping[str, Mapping[str, Any]] | None) -> Iterator[Metric]:
    """Each worker pool: workers alive and wanted, available or not (none left, replacements failing)."""
    if pools is None:
        return
    workers = GaugeMetricFamily(f"{PREFIX}_vision_workers", "Vision workers by state", labels=["pool", "state"])
    available = GaugeMetricFamily(f"{PREFIX}_vision_available",
                                  "0 while the pool has no worker and a replacement failed", labels=["pool"])
    failed = CounterMetricFamily(f"{PREFIX}_vision_failed_starts", "Replacement workers that failed to start",
                                 labels=["pool"])
    for pool, health in pools.items():
        workers.add_metric([pool, "alive"], float(health["alive"]))
        workers.add_metric([pool, "wanted"], float(health["wanted"]))
        available.add_metric([pool], float(bool(health["available"])))
        failed.add_metric([pool], float(health["failed_starts"]))
    yield from (workers, available, failed)


REMOTE_OUTCOMES = ("answered", "resent", "duplicate", "late", "refused", "failed", "timed_out", "fallback_local",
                   "lost")


def _remote_metrics(stats: Mapping[str, Any] | None) -> Iterator[Metric]:
    """Remote encoding: jobs by outcome, workers online, and whether it works now (0 while looks fall back)."""
    if stats is None:
        return
    yield _by_outcome("remote_encode_jobs", "Remote encode jobs by outcome", stats, REMOTE_OUTCOMES)
    yield GaugeMetricFamily(f"{PREFIX}_remote_encode_workers", "Remote workers of the group online",
                            value=float(stats.get("workers_online") or 0))
    yield GaugeMetricFamily(f"{PREFIX}_remote_encode_working",
                            "1 while remote jobs are answered, 0 while they fall back",
                            value=float(stats.get("problem") is None))


def _by_outcome(name: str, text: str, counts: Mapping[str, Any], outcomes: tuple[str, ...],
                label: str = "outcome") -> Metric:
    family = CounterMetricFamily(f"{PREFIX}_{name}", text, labels=[label])
    for outcome in outcomes:
        family.add_metric([outcome], float(counts.get(outcome) or 0))
    return family


def _copy(mapping: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return dict(mapping) if mapping is not None else None
