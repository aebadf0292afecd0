"""Per-stage latency histograms: real ``Percentiles`` filled with known samples, the
exposition parsed back with prometheus_client's own parser and checked bucket by bucket."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from face01d.events.model import Event, EventType
from face01d.metrics import Figures, Metrics
from face01d.stats import BUCKETS_MS, LatencyHistogram, Percentiles

HISTOGRAM = "face01d_stage_latency_seconds"
DETECT_MS = [0.5, 1.0, 3.0, 12.0, 12.0, 48.0, 700.0, 9000.0]  # 1.0: exactly on a bound, counted in it
ENCODE_MS = [90.0, 110.0, 130.0]


def filled(samples: list[float]) -> Percentiles:
    window = Percentiles()
    for sample in samples:
        window.add(sample)
    return window


class Door:
    """One camera's stats as ``CameraPipeline.stats()`` builds them, from real windows."""

    def __init__(self) -> None:
        self.detect, self.encode, self.match = filled(DETECT_MS), filled(ENCODE_MS), Percentiles()
        self.latency = filled([40.0, 60.0])
        self.extra: dict[str, Any] = {"decoder_errors": 4}

    def __call__(self) -> Figures:
        stats = {"frames_read": 10, "analysed": 8, "online": True, "tracks": 1, **self.extra,
                 "latency_ms": self.latency.summary(),
                 "stage_ms": {"detect": self.detect.summary(), "encode": self.encode.summary(),
                              "match": self.match.summary()}}
        return Figures(cameras={"door": stats})


def samples(metrics: Metrics, name: str = HISTOGRAM) -> list[Sample]:
    text = metrics.exposition().decode()
    family = next(f for f in text_string_to_metric_families(text) if f.name == name)
    return family.samples


def series(found: list[Sample], stage: str, camera: str = "door") -> dict[str, Any]:
    """One labelled histogram: its buckets (le → count, in exposition order), count and sum."""
    mine = [s for s in found if s.labels.get("stage") == stage and s.labels.get("camera") == camera]
    return {
        "buckets": {s.labels["le"]: s.value for s in mine if s.name.endswith("_bucket")},
        "count": next((s.value for s in mine if s.name.endswith("_count")), None),
        "sum": next((s.value for s in mine if s.name.endswith("_sum")), None),
    }


def expected_buckets(values_ms: list[float]) -> list[float]:
    return [float(sum(v <= bound for v in values_ms)) for bound in BUCKETS_MS] + [float(len(values_ms))]


def test_a_histogram_counts_each_sample_in_its_bucket_and_below_none() -> None:
    histogram = LatencyHistogram()
    for sample in DETECT_MS:
        histogram.add(sample)
    assert histogram.cumulative() == [int(c) for c in expected_buckets(DETECT_MS)]
    assert histogram.cumulative()[:3] == [2, 2, 3]  # 0.5 and 1.0 in le=1; 3.0 first in le=5
    assert histogram.summary()["sum_ms"] == pytest.approx(sum(DETECT_MS))


def test_the_window_forgets_but_the_histogram_does_not() -> None:
    window = Percentiles(size=4)
    for sample in [1000.0] * 4 + [3.0] * 4:
        window.add(sample)
    summary = window.summary()
    assert summary is not None and (summary["p50"], summary["p99"], summary["n"]) == (3.0, 3.0, 4)
    assert summary["histogram"]["buckets"][-1] == 8 and summary["histogram"]["sum_ms"] == 4012.0
    assert Percentiles().summary() is None


def test_the_exposition_has_a_cumulative_histogram_per_stage_in_seconds() -> None:
    found = samples(Metrics(Door()))
    detect = series(found, "detect")
    bounds = [str(bound / 1000.0) for bound in BUCKETS_MS] + ["+Inf"]
    assert list(detect["buckets"]) == bounds  # seconds: 0.001 … 5.0, then +Inf
    assert list(detect["buckets"].values()) == expected_buckets(DETECT_MS)
    assert detect["count"] == len(DETECT_MS) and detect["sum"] == pytest.approx(sum(DETECT_MS) / 1000.0)
    encode = series(found, "encode")
    assert list(encode["buckets"].values()) == expected_buckets(ENCODE_MS) and encode["count"] == 3.0
    assert series(found, "frame_to_result")["count"] == 2.0
    assert series(found, "match")["buckets"] == {}  # no sample yet: no series, not made-up zeros
    for stage in ("detect", "encode", "frame_to_result"):
        counts = list(series(found, stage)["buckets"].values())
        assert counts == sorted(counts), stage  # cumulative: never decreasing


def test_a_scrape_sees_samples_added_since_the_last_one() -> None:
    door = Door()
    metrics = Metrics(door)
    before = series(samples(metrics), "detect")["count"]
    door.detect.add(15.0)
    after = series(samples(metrics), "detect")
    assert (before, after["count"]) == (len(DETECT_MS), len(DETECT_MS) + 1)
    assert after["buckets"]["0.02"] == expected_buckets([*DETECT_MS, 15.0])[BUCKETS_MS.index(20)]


def test_frame_to_event_is_observed_when_the_read_time_is_given() -> None:
    metrics = Metrics(Door())
    event = Event(type=EventType.RECOGNIZED, node="node", camera="door", name="kim", captured_at=time.time())
    metrics.event(event, read_mono=time.monotonic() - 0.3)
    metrics.event(event)  # no read time (a replay, an older caller): counted, not timed
    timed = series(samples(metrics), "frame_to_event")
    assert timed["count"] == 1.0 and 0.3 <= timed["sum"] < 0.5
    assert (timed["buckets"]["0.2"], timed["buckets"]["0.5"], timed["buckets"]["+Inf"]) == (0.0, 1.0, 1.0)
    events = [s for s in samples(metrics, "face01d_events") if s.name == "face01d_events_total"]
    assert [s.value for s in events] == [2.0]


def test_new_camera_counters_read_zero_when_the_camera_does_not_report_them() -> None:
    metrics = Metrics(Door())
    assert [s.value for s in samples(metrics, "face01d_camera_decoder_errors")
            if s.name.endswith("_total")] == [4.0]
    assert [s.value for s in samples(metrics, "face01d_camera_hung_reads")
            if s.name.endswith("_total")] == [0.0]


def test_the_stats_message_keeps_percentiles_without_bucket_counts() -> None:
    payload = json.loads(json.dumps(Metrics(Door()).payload()))
    door = payload["cameras"]["door"]
    assert door["latency_ms"] == {"p50": 50.0, "p99": 59.8, "n": 2}
    assert set(door["stage_ms"]["detect"]) == {"p50", "p99", "n"} and door["stage_ms"]["match"] is None
