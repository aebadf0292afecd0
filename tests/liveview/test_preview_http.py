"""The preview for real: uvicorn on a free loopback port, httpx reading the MJPEG stream, cv2 decoding each part.

A feeder task plays the role of the runtime: for each of the video's frames
it asks ``wants_frames`` and, only when the answer is yes, hands the frame
and its track over with ``frame_analysed``, as the pipeline does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import cv2
import httpx
import numpy as np
import pytest

from face01d.config.models import PreviewConfig
from face01d.http import Readiness, make_app
from face01d.http.guard import Limits
from face01d.liveview import LiveView, preview_routes
from face01d.liveview import routes as preview_module
from face01d.metrics import Figures, Metrics
from support.http_client import serve_app
from support.mjpeg import MjpegReader, decode
from support.slow_clients import close_all, connect

TOKEN = "preview-token"
CAMERAS = ("door", "yard")
FEED_FPS = 30.0  # the "camera" analyses this many frames a second
WIDTH = 480
STREAM = "/cameras/door/preview.mjpeg"


class Feeder:
    """The runtime's side: frames offered to the live view only while it wants them."""

    def __init__(self, view: LiveView, scene, camera: str = "door") -> None:
        self.view, self.scene, self.camera = view, scene, camera
        self.offered = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Feeder:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        index = 0
        while True:
            if self.view.wants_frames(self.camera):
                self.view.frame_analysed(self.camera, self.scene.frame(self.camera, index), self.scene.tracks())
                self.offered += 1
            index += 1
            await asyncio.sleep(1 / FEED_FPS)


async def wait_for(condition, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def serve(view: LiveView, token: str | None = None,
                limits: Limits | None = None) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(Metrics(lambda: Figures()), Readiness(), token, extra=preview_routes(view))
    async with serve_app(app, limits, timeout=10) as client:
        try:
            yield client
        finally:
            await view.stop(1)  # open streams end before the server stops


@pytest.fixture
def config() -> PreviewConfig:
    return PreviewConfig(enabled=True, fps=10, width=WIDTH, max_viewers=2, draw_track_id=True)


@pytest.fixture
def view(config: PreviewConfig, thumbnail_paths) -> LiveView:
    return LiveView(config, CAMERAS, thumbnail_paths)


@pytest.fixture
async def client(view: LiveView) -> AsyncIterator[httpx.AsyncClient]:
    async for client in serve(view):
        yield client


async def read_parts(client: httpx.AsyncClient, count: int, path: str = STREAM, **kwargs) -> list[np.ndarray]:
    async with client.stream("GET", path, **kwargs) as response:
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        reader = MjpegReader(response)
        return [decode(await reader.next_jpeg()) for _ in range(count)]


async def test_the_stream_sends_decodable_drawn_pictures_and_a_closed_viewer_stops_the_frames(
        client: httpx.AsyncClient, view: LiveView, scene) -> None:
    async with Feeder(view, scene):
        pictures = await read_parts(client, 3)
        assert all(picture.shape == (270, WIDTH, 3) for picture in pictures)
        plain = cv2.resize(scene.frames[0], (WIDTH, 270), interpolation=cv2.INTER_AREA)
        box = scene.box.scaled(WIDTH / 1920)
        edge = (slice(box.top - 1, box.top + 2), slice(box.left, box.right))  # the green box, JPEG or not
        assert np.abs(pictures[0][edge].astype(int) - plain[edge]).max() > 60
        await wait_for(lambda: not view.wants_frames("door"))
        assert view.viewers == {"door": 0, "yard": 0}
        rendered = view.rendered
        await asyncio.sleep(0.3)
        assert view.rendered == rendered  # nobody watches: nothing more is drawn


async def test_nothing_is_drawn_or_handed_over_while_nobody_watches(
        client: httpx.AsyncClient, view: LiveView, scene) -> None:
    async with Feeder(view, scene) as feeder:
        await asyncio.sleep(0.5)
        assert (feeder.offered, view.rendered) == (0, 0)
        assert not view.wants_frames("door")
        await read_parts(client, 1)
        assert feeder.offered >= 1 and view.rendered >= 1


async def test_viewers_of_one_camera_share_each_picture(client: httpx.AsyncClient, view: LiveView, scene) -> None:
    async with Feeder(view, scene):
        first, second = await asyncio.gather(read_parts(client, 5), read_parts(client, 5))
    assert len(first) == len(second) == 5
    assert view.rendered <= 5 + 2, view.rendered  # one render per shown frame, not one per viewer


async def test_pictures_come_at_most_fps_a_second(client: httpx.AsyncClient, view: LiveView, scene,
                                                  config: PreviewConfig) -> None:
    async with Feeder(view, scene):
        await read_parts(client, 1)
        started = time.monotonic()
        await read_parts(client, 4)
        elapsed = time.monotonic() - started
    assert elapsed >= 3 / config.fps * 0.9, elapsed  # three intervals between four pictures, at least


async def test_head_answers_the_headers_without_becoming_a_viewer(client: httpx.AsyncClient, view: LiveView) -> None:
    response = await client.head(STREAM)
    assert response.status_code == 200 and response.headers["content-type"].startswith("multipart/x-mixed-replace")
    assert view.rendered == 0 and not view.wants_frames("door")


async def test_an_unknown_camera_is_404_on_both_routes(client: httpx.AsyncClient) -> None:
    for path in ("/cameras/garage/preview.mjpeg", "/cameras/garage/preview.jpg"):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json() == {"error": "no such camera", "camera": "garage"}


async def test_viewers_beyond_the_limit_get_503_and_a_place_frees_when_one_leaves(
        client: httpx.AsyncClient, view: LiveView, scene) -> None:
    async with Feeder(view, scene), contextlib.AsyncExitStack() as stack:
        readers = []  # kept: a reader dropped closes its response (httpx's byte iterator ends with aclose)
        for _ in range(2):
            readers.append(MjpegReader(await stack.enter_async_context(client.stream("GET", STREAM))))
            await readers[-1].next_jpeg()
        assert view.wants_frames("door") and not view.wants_frames("yard")  # per camera
        refused = await client.get(STREAM)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        assert refused.json()["max_viewers"] == 2
        async with client.stream("GET", "/cameras/yard/preview.mjpeg") as other_camera:
            assert other_camera.status_code == 200  # the limit is per camera
            await wait_for(lambda: view.wants_frames("yard"))
        await wait_for(lambda: not view.wants_frames("yard"))  # left while waiting for a frame that never came
    await wait_for(lambda: view.viewers["door"] == 0)
    async with Feeder(view, scene):
        assert len(await read_parts(client, 1)) == 1


async def test_the_picture_route_answers_the_next_frame_as_one_jpeg(
        client: httpx.AsyncClient, view: LiveView, scene) -> None:
    async with Feeder(view, scene):
        response = await client.get("/cameras/door/preview.jpg")
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert decode(response.content).shape == (270, WIDTH, 3)
    assert view.viewers["door"] == 0


async def test_the_picture_route_gives_up_when_the_camera_sends_nothing(
        client: httpx.AsyncClient, view: LiveView, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preview_module, "PICTURE_WAIT_S", 0.2)
    response = await client.get("/cameras/yard/preview.jpg")
    assert response.status_code == 503
    assert response.json()["error"] == "no analysed frame from the camera"
    assert not view.wants_frames("yard")


async def test_a_token_guards_the_preview(view: LiveView, scene) -> None:
    async for client in serve(view, TOKEN):
        assert (await client.get(STREAM)).status_code == 401
        assert (await client.get(STREAM, headers={"Authorization": "Bearer wrong"})).status_code == 401
        assert view.viewers["door"] == 0  # refused before it counted as a viewer
        async with Feeder(view, scene):
            pictures = await read_parts(client, 1, headers={"Authorization": f"Bearer {TOKEN}"})
        assert pictures[0].shape[1] == WIDTH


async def test_stopping_the_view_ends_open_streams(client: httpx.AsyncClient, view: LiveView, scene) -> None:
    async with Feeder(view, scene), client.stream("GET", STREAM) as response:
        reader = MjpegReader(response)
        await reader.next_jpeg()
        await view.stop(1)
        assert (await reader.rest()).endswith(b"--face01d-preview--\r\n")
    await wait_for(lambda: view.viewers["door"] == 0)


async def test_viewers_that_stop_reading_lose_their_places_and_a_picture_is_served_again(view: LiveView, scene) -> None:
    send_timeout_s = 1.0
    async for client in serve(view, limits=Limits(send_timeout_s=send_timeout_s)):
        async with Feeder(view, scene):
            request = f"GET {STREAM} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            stalled = [await asyncio.to_thread(connect, client.base_url.port, request, 4096) for _ in range(2)]
            await wait_for(lambda: view.viewers["door"] == 2)
            started = time.monotonic()
            assert (await client.get("/cameras/door/preview.jpg")).status_code == 503  # no place left
            await wait_for(lambda: view.viewers["door"] == 0, 60)  # buffers fill, then the send timeout runs
            assert time.monotonic() - started > send_timeout_s
            response = await client.get("/cameras/door/preview.jpg")
            close_all(stalled)
        assert response.status_code == 200 and decode(response.content).shape == (270, WIDTH, 3)
