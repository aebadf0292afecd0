"""HTTP enrollment: ``POST /recognize``, ``POST /gallery/{name}``, ``DELETE /gallery/{name}``.

The routes sit behind the server's bearer token (``make_app(extra=...)``).
Nothing heavy runs on the event loop: an upload is decoded in a thread,
faces are found by the daemon's own vision workers (as a camera named
``RECOGNIZE_CAMERA``, one request at a time, so the cameras keep their fair
share), and a gallery image is checked on one enrollment thread with the
gallery's own detector, as ``face01d gallery add`` checks it. Boxes are in
the pixels of the analysed image, whose ``width`` and ``height`` the answer
gives (a photo over 4 megapixels is analysed shrunk). Bodies are read
up to ``max_upload_mb`` and refused beyond (413) without being buffered whole.

Status codes: 400 a bad name or a body that is no image, 401 no token,
404 removing nobody, 409 a person folder that is a symlink (never written or
emptied through), 413 too large, 415 not ``Content-Type: image/*``, 422
an image without exactly one face, 503 the gallery or the workers not ready.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import cv2
import numpy as np
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from face01d.config.models import GalleryConfig
from face01d.enrollment.gallery_edit import (
    InvalidName,
    NotInGallery,
    OutsideGallery,
    Upload,
    check_upload,
    remove_person,
    valid_name,
    write_uploads,
)
from face01d.enrollment.images import NotOneFace
from face01d.errors import Face01dError, ImageReadError
from face01d.faces import Face, Sighting
from face01d.recognition.recognizer import Recognizer
from face01d.vision.image import DETECTION_MAX_PIXELS, decode_image_bytes
from face01d.workers.base import VisionWorkers, WorkerLost

log = structlog.get_logger(__name__)

RECOGNIZE_CAMERA = "http-recognize"  # the workers' fair queue name for /recognize
MEBIBYTE = 1024 * 1024
_STATUS: tuple[tuple[type[Face01dError], int], ...] = (
    (InvalidName, 400), (ImageReadError, 400), (NotOneFace, 422), (NotInGallery, 404), (OutsideGallery, 409))

Endpoint = Callable[[Request], Awaitable[Response]]


class Refused(Exception):
    """A request answered with ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class EnrollmentApi:
    """What the routes need from the daemon: its workers, its current recognizer, the gallery, a reload.

    ``recognizer()`` is called per request (None while the gallery loads), so
    a reloaded gallery is used at once. ``reload()`` may return an awaitable:
    the route then answers after the reload, and a following ``/recognize``
    already knows the new person.
    """

    shared: ClassVar[bool] = False  # True: the gallery is the broker's, edits go to its publisher

    def __init__(self, workers: VisionWorkers, recognizer: Callable[[], Recognizer | None], gallery: GalleryConfig,
                 max_upload_mb: float, reload: Callable[[], object]) -> None:
        self.workers = workers
        self.recognizer = recognizer
        self.gallery = gallery
        self.max_upload_bytes = int(max_upload_mb * MEBIBYTE)
        self._reload = reload
        self._checker = ThreadPoolExecutor(1, thread_name_prefix="face01d-enroll")  # one set of gallery models
        self._recognizing = asyncio.Lock()
        self._editing = asyncio.Lock()

    async def recognize(self, bgr: np.ndarray) -> list[Sighting]:
        """Every face of ``bgr`` named against the current gallery."""
        recognizer = self.recognizer()
        if recognizer is None:
            raise Refused(503, "the gallery is still loading")
        async with self._recognizing:
            detections = await self.workers.detect(RECOGNIZE_CAMERA, bgr)
            if not detections:
                return []
            encoded = await self.workers.encode(RECOGNIZE_CAMERA, bgr, [d.box for d in detections])
        faces = [Face(detection, face.encoding) for detection, face in zip(detections, encoded)]
        return recognizer.name_faces(faces)

    async def add(self, name: str, data: bytes) -> list[str]:
        """Check the image (one face), write it as ``name``, reload; the new file names."""
        loop = asyncio.get_running_loop()
        upload: Upload = await loop.run_in_executor(self._checker, check_upload, self.gallery, data, "the upload")
        async with self._editing:
            paths = await asyncio.to_thread(write_uploads, self.gallery, name, [upload])
        await self._reloaded()
        return [path.name for path in paths]

    async def remove(self, name: str) -> list[str]:
        """Delete every image of ``name``, reload; the removed file names."""
        async with self._editing:
            paths = await asyncio.to_thread(remove_person, self.gallery, name)
        await self._reloaded()
        return [path.name for path in paths]

    async def _reloaded(self) -> None:
        result = self._reload()
        if inspect.isawaitable(result):
            await result

    def close(self) -> None:
        """Release the enrollment thread (a check in flight is abandoned)."""
        self._checker.shutdown(wait=False, cancel_futures=True)


def _decode_bgr(data: bytes) -> np.ndarray:
    """BGR for the workers, decoded as gallery files are: at most DETECTION_MAX_PIXELS, so a
    small PNG of 100 megapixels costs no gigabytes (the answer's width and height say the scale)."""
    return cv2.cvtColor(decode_image_bytes(data, "the upload", DETECTION_MAX_PIXELS), cv2.COLOR_RGB2BGR)


async def read_image_body(request: Request, limit: int) -> bytes:
    """The body of an ``image/*`` request, at most ``limit`` bytes (Refused otherwise)."""
    kind = request.headers.get("content-type", "")
    if not kind.lower().startswith("image/"):
        raise Refused(415, "send the image itself with Content-Type: image/jpeg, image/png, ...")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, f"the image is over the limit of {limit:,} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, f"the image is over the limit of {limit:,} bytes")
        chunks.append(chunk)
    if not size:
        raise Refused(400, "the body is empty: send an image")
    return b"".join(chunks)


def _sighting(sighting: Sighting) -> dict[str, Any]:
    return {"box": sighting.box.as_dict(), "name": sighting.name, "distance": round(sighting.distance, 4),
            "percentage": round(sighting.percentage, 2)}


def _answers(endpoint: Endpoint) -> Endpoint:
    """Turn Refused and face01d's errors into a JSON error with the right status."""

    async def wrapped(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Refused as refused:
            return JSONResponse({"error": str(refused)}, refused.status)
        except WorkerLost:
            return JSONResponse({"error": "a vision worker was lost; try again"}, 503)
        except Face01dError as error:
            status = next((code for kind, code in _STATUS if isinstance(error, kind)), 500)
            log.info("enrollment request refused", path=request.url.path, status=status, error=str(error))
            return JSONResponse({"error": str(error)}, status)

    return wrapped


def enrollment_routes(api: EnrollmentApi) -> list[BaseRoute]:
    """The routes to pass to ``make_app(..., extra=...)``."""

    async def recognize(request: Request) -> Response:
        data = await read_image_body(request, api.max_upload_bytes)
        bgr = await asyncio.to_thread(_decode_bgr, data)
        sightings = await api.recognize(bgr)
        height, width = bgr.shape[:2]
        return JSONResponse({"width": width, "height": height, "faces": [_sighting(s) for s in sightings]})

    async def add(request: Request) -> Response:
        name = valid_name(request.path_params["name"])
        files = await api.add(name, await read_image_body(request, api.max_upload_bytes))
        return JSONResponse({"name": name, "added": files}, 201)

    async def remove(request: Request) -> Response:
        name = valid_name(request.path_params["name"])
        return JSONResponse({"name": name, "removed": await api.remove(name)})

    return [Route("/recognize", _answers(recognize), methods=["POST"]),
            Route("/gallery/{name}", _answers(add), methods=["POST"]),
            Route("/gallery/{name}", _answers(remove), methods=["DELETE"])]
