"""The preview's routes: an MJPEG stream and a single picture per camera.

``GET /cameras/{camera}/preview.mjpeg`` answers ``multipart/x-mixed-replace``
(what browsers, VLC and Home Assistant's MJPEG camera read) with one JPEG
part per shown frame; ``GET /cameras/{camera}/preview.jpg`` answers the
next picture once. The stream is a plain ASGI app rather than Starlette's
``StreamingResponse`` so that one ``try``/``finally`` holds a viewer's whole
life: the count goes down however the stream ends (client gone, daemon
stopping, a render failing), and ``wants_frames`` turns False with it. A
viewer that stops reading is dropped by the server after ``[http]
send_timeout_s`` (``face01d.http.guard``): its stream ends here as a disconnect.
The server's bearer-token middleware (``face01d.http.routes``) covers both.
"""

from __future__ import annotations

import asyncio

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from face01d.liveview.feed import CameraFeed, FeedClosed
from face01d.liveview.view import LiveView

log = structlog.get_logger(__name__)

BOUNDARY = "face01d-preview"
MJPEG_TYPE = f"multipart/x-mixed-replace; boundary={BOUNDARY}"
PICTURE_WAIT_S = 5.0  # preview.jpg waits this long for the camera's next analysed frame
RETRY_AFTER_S = "5"
MJPEG_HEADERS = [(b"content-type", MJPEG_TYPE.encode()), (b"cache-control", b"no-store"),
                 (b"x-accel-buffering", b"no")]  # nginx: pass each part on at once


def preview_routes(view: LiveView) -> list[BaseRoute]:
    """The routes to pass as ``make_app(..., extra=preview_routes(view))``."""
    return [
        Route("/cameras/{camera}/preview.mjpeg", MjpegStream(view), methods=["GET"]),
        Route("/cameras/{camera}/preview.jpg", _picture_endpoint(view), methods=["GET"]),
    ]


def mjpeg_part(jpeg: bytes) -> bytes:
    """One part of the multipart stream: boundary, headers, the JPEG."""
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
    return head + jpeg + b"\r\n"


class MjpegStream:
    """ASGI app: one viewer's stream, counted from the first byte to the disconnect."""

    def __init__(self, view: LiveView) -> None:
        self._view = view

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        camera = scope["path_params"]["camera"]
        feed = self._view.feed(camera)
        refusal = _refusal(camera, feed, self._view.config.max_viewers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        assert feed is not None  # _refusal answered a camera the daemon does not have
        if scope["method"] == "HEAD":  # Starlette lets HEAD into GET routes: headers only, no viewer
            await _send_head(send)
            return
        seen = feed.join()
        log.info("preview viewer joined", camera=camera, viewers=feed.viewers)
        try:
            await _stream_until_disconnect(feed, seen, receive, send)
        finally:
            feed.leave()
            log.info("preview viewer left", camera=camera, viewers=feed.viewers)


def _picture_endpoint(view: LiveView):  # noqa: ANN202 - a Starlette endpoint
    async def picture(request: Request) -> Response:
        """The next picture of the camera; a viewer while it waits, so frames are handed over."""
        camera = request.path_params["camera"]
        feed = view.feed(camera)
        refusal = _refusal(camera, feed, view.config.max_viewers)
        if refusal is not None:
            return refusal
        assert feed is not None  # _refusal answered a camera the daemon does not have
        seen = feed.join()
        try:
            async with asyncio.timeout(PICTURE_WAIT_S):
                _, jpeg = await feed.picture_after(seen)
        except (TimeoutError, FeedClosed):
            return _unavailable("no analysed frame from the camera", camera)
        finally:
            feed.leave()
        return Response(jpeg, media_type="image/jpeg", headers={"cache-control": "no-store"})

    return picture


async def _stream_until_disconnect(feed: CameraFeed, seen: int, receive: Receive, send: Send) -> None:
    """Send parts until the client leaves (its ``http.disconnect``, or a send that fails) or the feed closes."""
    streaming = asyncio.create_task(_send_parts(feed, seen, send), name=f"preview-{feed.camera}")
    watching = asyncio.create_task(_until_disconnect(receive))
    try:
        await asyncio.wait({streaming, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (streaming, watching):
            task.cancel()
        await asyncio.gather(streaming, watching, return_exceptions=True)
    error = None if streaming.cancelled() else streaming.exception()
    if error is not None and not isinstance(error, OSError):  # OSError: the client went away mid-send
        log.error("preview stream failed", camera=feed.camera, error=repr(error))


async def _send_head(send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": MJPEG_HEADERS})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _send_parts(feed: CameraFeed, seen: int, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": MJPEG_HEADERS})
    try:
        while True:
            seen, jpeg = await feed.picture_after(seen)
            await send({"type": "http.response.body", "body": mjpeg_part(jpeg), "more_body": True})
    except FeedClosed:
        await send({"type": "http.response.body", "body": f"--{BOUNDARY}--\r\n".encode(), "more_body": False})


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _refusal(camera: str, feed: CameraFeed | None, max_viewers: int) -> Response | None:
    if feed is None:
        return _not_found(camera)
    if feed.viewers >= max_viewers:
        return _unavailable("too many viewers", camera, max_viewers=max_viewers)
    return None


def _not_found(camera: str) -> Response:
    return JSONResponse({"error": "no such camera", "camera": camera}, 404)


def _unavailable(reason: str, camera: str, **fields: int) -> Response:
    return JSONResponse({"error": reason, "camera": camera, **fields}, 503, headers={"retry-after": RETRY_AFTER_S})
