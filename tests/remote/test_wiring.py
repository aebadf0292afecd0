"""How remote encoding is wired in: the pools make_workers builds, and the figures /metrics shows."""

from __future__ import annotations

import pytest

from face01d.config.models import DetectorConfig, MqttConfig, WorkersConfig
from face01d.metrics import Figures, Metrics
from face01d.remote.node import RemoteEncoder, remote_stats
from face01d.workers import ProcessWorkers, SplitWorkers, ThreadWorkers, VisionSettings, make_workers

SETTINGS = VisionSettings(DetectorConfig(set_width=640), "small", 1)


def test_remote_encoding_is_a_split_pool_with_local_detection() -> None:
    local = make_workers(WorkersConfig(encode="remote", processes=1), SETTINGS, MqttConfig(), "n1")
    assert isinstance(local, SplitWorkers) and isinstance(local.detector, ThreadWorkers)
    assert isinstance(local.encoder, RemoteEncoder) and isinstance(local.encoder._fallback, ProcessWorkers)
    assert local.encoder._fallback.settings.stages == ("encode",)
    lost = make_workers(WorkersConfig(encode="remote", remote_fallback="lost"), SETTINGS, MqttConfig(), "n1")
    assert lost.encoder._fallback is None  # type: ignore[attr-defined]
    assert remote_stats(lost)["workers_online"] == 0 and remote_stats(make_workers(WorkersConfig(), SETTINGS)) is None
    with pytest.raises(ValueError, match="needs the MQTT broker"):
        make_workers(WorkersConfig(encode="remote"), SETTINGS, MqttConfig(enabled=False), "n1")


def test_the_remote_figures_reach_metrics_and_the_stats_message() -> None:
    remote = make_workers(WorkersConfig(encode="remote", remote_fallback="lost"), SETTINGS, MqttConfig(), "n1")
    stats = {**remote_stats(remote), "answered": 7, "fallback_local": 2, "workers_online": 3}
    metrics = Metrics(lambda: Figures(remote_encode=stats))
    text = metrics.exposition().decode()
    assert 'face01d_remote_encode_jobs_total{outcome="answered"} 7.0' in text
    assert 'face01d_remote_encode_jobs_total{outcome="fallback_local"} 2.0' in text
    assert "face01d_remote_encode_workers 3.0" in text
    assert "face01d_remote_encode_working 0.0" in text  # not connected: a problem
    assert metrics.payload()["remote_encode"]["answered"] == 7
