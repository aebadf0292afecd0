"""The metrics and health server, for real: uvicorn on a free loopback port, httpx requests.

The figures come from ``FixedFigures``, a plain object that answers what a
daemon would (one camera, MQTT, snapshots, a gallery), so the exposition is
checked value by value.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from face01d.config.loader import load_config
from face01d.config.models import HttpConfig
from face01d.errors import ConfigError
from face01d.events.model import Event, EventType
from face01d.http import HttpServer, Readiness, make_app
from face01d.metrics import Figures, Metrics
from face01d.workers import PoolHealth
from support.http_client import serve_app

TOKEN = "s3cret-token"
DOOR = {
    "frames_read": 120, "frames_skipped": 10, "frames_dropped": 3, "reconnects": 2, "online": True,
    "last_frame_at": 1.0, "error": None, "failed": False, "analysed": 107, "analysis_failed": 1, "tracks": 2,
    "looks_lost": 6, "tracks_undecided": 1,
    "frame_skip": 0, "detect_every": 1, "latency_ms": {"p50": 40.0, "p99": 90.5, "n": 107},
    "stage_ms": {"detect": {"p50": 12.5, "p99": 30.0, "n": 107}, "encode": {"p50": 95.0, "p99": 120.0, "n": 4},
                 "match": None},
}


class FixedFigures:
    """What a daemon with one camera ("door"), MQTT and snapshots would report; ``analysed`` can move."""

    def __init__(self) -> None:
        self.door = dict(DOOR)

    def __call__(self) -> Figures:
        return Figures(cameras={"door": self.door}, mqtt={"connected": True, "queued": 1, "outbox": 5},
                       snapshots={"written": 7, "failed": 2, "dropped": 1, "frames_dropped": 0},
                       gallery_people=3, gallery_encodings=11,
                       unknown_crops={"written": 4, "failed": 0, "dropped": 1, "pruned": 2},
                       preview_viewers={"door": 2}, output_failures=3, unattributed_decoder_errors=5,
                       http_shed={"head": 200, "send": 1},
                       vision={"detect": PoolHealth(2, 2).as_dict(),
                               "encode": PoolHealth(0, 1, "no vision worker (encode): EMFILE", 4).as_dict()})


def event(kind: EventType) -> Event:
    return Event(type=kind, node="node", camera="door", name="kim", captured_at=time.time())


async def serving(metrics: Metrics, readiness: Readiness, token: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_app(make_app(metrics, readiness, token), timeout=5) as client:
        yield client


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(FixedFigures())


@pytest.fixture
def readiness() -> Readiness:
    return Readiness()


@pytest.fixture
async def client(metrics: Metrics, readiness: Readiness) -> AsyncIterator[httpx.AsyncClient]:
    async for client in serving(metrics, readiness):
        yield client


@pytest.fixture
async def guarded(metrics: Metrics, readiness: Readiness) -> AsyncIterator[httpx.AsyncClient]:
    async for client in serving(metrics, readiness, TOKEN):
        yield client


async def test_metrics_show_each_figure_per_camera(client: httpx.AsyncClient, metrics: Metrics) -> None:
    metrics.event(event(EventType.RECOGNIZED))
    metrics.event(event(EventType.RECOGNIZED))
    metrics.event(event(EventType.LEFT))
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    lines = set(response.text.splitlines())
    for expected in [
        'face01d_camera_frames_read_total{camera="door"} 120.0',
        'face01d_camera_frames_analysed_total{camera="door"} 107.0',
        'face01d_camera_frames_dropped_total{camera="door"} 3.0',
        'face01d_camera_frames_skipped_total{camera="door"} 10.0',
        'face01d_camera_reconnects_total{camera="door"} 2.0',
        'face01d_camera_tracks{camera="door"} 2.0',
        'face01d_camera_online{camera="door"} 1.0',
        'face01d_stage_latency_ms{camera="door",quantile="0.5",stage="detect"} 12.5',
        'face01d_stage_latency_ms{camera="door",quantile="0.99",stage="encode"} 120.0',
        'face01d_stage_latency_ms{camera="door",quantile="0.99",stage="frame_to_result"} 90.5',
        'face01d_events_total{camera="door",type="recognized"} 2.0',
        'face01d_events_total{camera="door",type="left"} 1.0',
        "face01d_mqtt_connected 1.0",
        "face01d_mqtt_outbox_events 5.0",
        'face01d_snapshots_total{outcome="failed"} 2.0',
        "face01d_gallery_people 3.0",
        "face01d_gallery_encodings 11.0",
        'face01d_unknown_crops_total{outcome="written"} 4.0',
        'face01d_unknown_crops_total{outcome="pruned"} 2.0',
        'face01d_preview_viewers{camera="door"} 2.0',
        "face01d_output_failures_total 3.0",
        'face01d_http_clients_shed_total{reason="head"} 200.0',
        'face01d_http_clients_shed_total{reason="refused"} 0.0',
        "face01d_decoder_errors_unattributed_total 5.0",
        'face01d_camera_looks_lost_total{camera="door"} 6.0',
        'face01d_camera_tracks_undecided_total{camera="door"} 1.0',
        'face01d_vision_workers{pool="encode",state="alive"} 0.0',
        'face01d_vision_workers{pool="encode",state="wanted"} 1.0',
        'face01d_vision_workers{pool="detect",state="alive"} 2.0',
        'face01d_vision_available{pool="encode"} 0.0',
        'face01d_vision_available{pool="detect"} 1.0',
        'face01d_vision_failed_starts_total{pool="encode"} 4.0',
    ]:
        assert expected in lines, expected
    assert 'stage="match"' not in response.text  # no sample yet: no series, not a made-up 0


async def test_analysed_fps_is_the_rate_between_readings(client: httpx.AsyncClient, metrics: Metrics) -> None:
    source = metrics._source
    assert isinstance(source, FixedFigures)
    await client.get("/metrics")
    await asyncio.sleep(0.2)
    source.door["analysed"] = DOOR["analysed"] + 10
    text = (await client.get("/metrics")).text
    fps = next(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith('face01d_camera_analysed_fps{camera="door"}'))
    assert 20 < fps < 55  # 10 frames in a little over 0.2 s


async def test_healthz_answers_while_the_loop_runs(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "alive"})


async def test_readyz_follows_start_and_stop(client: httpx.AsyncClient, readiness: Readiness) -> None:
    before = await client.get("/readyz")
    assert before.status_code == 503 and before.json()["ready"] is False
    assert before.json()["reason"].startswith("starting")
    readiness.set_ready()
    ready = await client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"ready": True, "reason": "ready"})
    readiness.set_stopping("stopping (SIGTERM)")
    stopping = await client.get("/readyz")
    assert (stopping.status_code, stopping.json()["reason"]) == (503, "stopping (SIGTERM)")


async def test_readyz_is_503_while_a_check_names_a_problem(client: httpx.AsyncClient, readiness: Readiness) -> None:
    trouble: list[str] = []
    readiness.checks.append(lambda: trouble[0] if trouble else None)
    readiness.set_ready()
    assert (await client.get("/readyz")).status_code == 200
    trouble.append("no vision worker (encode): a replacement failed: OSError: [Errno 24] Too many open files")
    answer = await client.get("/readyz")
    assert (answer.status_code, answer.json()) == (503, {"ready": False, "reason": trouble[0]})
    trouble.clear()
    assert (await client.get("/readyz")).json() == {"ready": True, "reason": "ready"}
    readiness.set_stopping("stopping (SIGTERM)")  # stopping says so first, whatever the checks say
    trouble.append("no vision worker")
    assert (await client.get("/readyz")).json()["reason"] == "stopping (SIGTERM)"


@pytest.mark.parametrize("path", ["/metrics", "/readyz", "/nowhere"])
async def test_a_token_guards_every_route_but_healthz(guarded: httpx.AsyncClient, path: str) -> None:
    assert (await guarded.get(path)).status_code == 401
    wrong = await guarded.get(path, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    right = await guarded.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code != 401


async def test_healthz_needs_no_token(guarded: httpx.AsyncClient) -> None:
    assert (await guarded.get("/healthz")).status_code == 200


async def test_a_port_in_use_is_a_config_error(metrics: Metrics, readiness: Readiness) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = HttpServer(make_app(metrics, readiness), "127.0.0.1", taken.getsockname()[1])
        with pytest.raises(ConfigError, match=r"\[http\] cannot listen on 127.0.0.1:"):
            await server.start()


def test_the_stats_message_carries_the_same_figures(metrics: Metrics) -> None:
    metrics.event(event(EventType.UNKNOWN))
    payload = json.loads(json.dumps(metrics.payload()))
    assert payload["cameras"]["door"]["frames_read"] == 120
    assert payload["cameras"]["door"]["analysed_fps"] == 0.0  # one reading: no rate yet
    assert payload["events"] == {"unknown": 1}
    assert payload["mqtt"]["connected"] is True and payload["snapshots"]["failed"] == 2
    assert payload["gallery"] == {"people": 3, "encodings": 11}
    assert payload["http"] == {"shed": {"head": 200, "send": 1}}


def test_http_defaults_are_off_and_loopback() -> None:
    config = HttpConfig()
    assert (config.enabled, config.host, config.port, config.stats_interval_s, config.token) == (
        False, "127.0.0.1", 8080, 30.0, None)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_no_token(host: str) -> None:
    assert HttpConfig(enabled=True, host=host).host == host


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "face01d.lan"])
def test_another_host_without_a_token_is_an_error(host: str) -> None:
    with pytest.raises(ValidationError, match="not a loopback address: set a token"):
        HttpConfig(enabled=True, host=host)
    assert HttpConfig(enabled=True, host=host, token=TOKEN).token.get_secret_value() == TOKEN


def test_the_config_file_names_the_section(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[http]\nenabled = true\nhost = "0.0.0.0"\n')
    with pytest.raises(ConfigError, match="http"):
        load_config(path)
