"""The enrollment routes for real: uvicorn on a free port, httpx, real vision workers and a real gallery."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from face01d.config.models import DetectorConfig, GalleryConfig
from face01d.enrollment.routes import EnrollmentApi, enrollment_routes
from face01d.http import Readiness, make_app
from face01d.metrics import Figures, Metrics
from face01d.recognition.recognizer import Recognizer, load_gallery
from face01d.workers import ThreadWorkers, VisionSettings

from support.http_client import serve_app
from support.listing import names

TOKEN = "enroll-token"
MAX_UPLOAD_MB = 2.0


@dataclass
class Served:
    client: httpx.AsyncClient
    gallery: Path
    reloads: list[int]
    recognizer: list[Recognizer | None]


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Encodings are cached by content: every test's gallery copy reuses the first one's."""
    return tmp_path_factory.mktemp("enroll-cache")


@pytest.fixture
async def served(tmp_path: Path, shared_cache: Path, data) -> AsyncIterator[Served]:
    gallery_dir = tmp_path / "gallery"
    shutil.copytree(data.knn_train, gallery_dir)
    config = GalleryConfig(path=gallery_dir, cache_dir=shared_cache)
    workers = ThreadWorkers(VisionSettings(DetectorConfig()), threads=1)
    await workers.start()
    gallery, _ = await asyncio.to_thread(load_gallery, config)
    holder: list[Recognizer | None] = [Recognizer(DetectorConfig(), config, gallery)]
    reloads: list[int] = []

    async def reload() -> None:  # what the daemon's keeper does, awaited so that a test can recognise at once
        fresh, _ = await asyncio.to_thread(load_gallery, config)
        recognizer = holder[0]
        assert recognizer is not None
        recognizer.replace_gallery(fresh)
        reloads.append(len(fresh.people))

    api = EnrollmentApi(workers, lambda: holder[0], config, MAX_UPLOAD_MB, reload)
    app = make_app(Metrics(Figures), Readiness(), TOKEN, extra=enrollment_routes(api))
    try:
        async with serve_app(app, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120) as client:
            yield Served(client, gallery_dir, reloads, holder)
    finally:
        api.close()
        await workers.stop()


def image(path: Path) -> dict[str, object]:
    kind = "image/png" if path.suffix == ".png" else "image/jpeg"
    return {"content": path.read_bytes(), "headers": {"Content-Type": kind}}


async def test_recognize_names_every_face(served: Served, data) -> None:
    response = await served.client.post("/recognize", **image(data.knn_test / "obama_and_biden.jpg"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["width"] > 0 and body["height"] > 0
    named = [face for face in body["faces"] if face["name"] != "Unknown"]  # a third face in the background
    assert sorted(face["name"] for face in named) == ["biden", "obama"]
    for face in body["faces"]:
        assert set(face) == {"box", "name", "distance", "percentage"}
        assert set(face["box"]) == {"top", "right", "bottom", "left"}
    assert all(0 < face["distance"] < 0.6 and 90 < face["percentage"] <= 100 for face in named)


async def test_recognize_without_faces_and_bad_bodies(served: Served, data) -> None:
    empty = await served.client.post("/recognize", **image(data("face01/images/invalid_face_image.png")))
    assert empty.status_code == 200 and empty.json()["faces"] == []
    junk = await served.client.post("/recognize", content=b"not an image", headers={"Content-Type": "image/jpeg"})
    assert junk.status_code == 400 and "not a decodable image" in junk.json()["error"]
    text = await served.client.post("/recognize", content=b"hello", headers={"Content-Type": "text/plain"})
    assert text.status_code == 415
    nothing = await served.client.post("/recognize", content=b"", headers={"Content-Type": "image/png"})
    assert nothing.status_code == 400


async def test_bodies_over_the_cap_are_refused(served: Served) -> None:
    big = b"\xff\xd8\xff" + bytes(int(MAX_UPLOAD_MB * 1024 * 1024))
    declared = await served.client.post("/recognize", content=big, headers={"Content-Type": "image/jpeg"})
    assert declared.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for _ in range(40):
            yield bytes(64 * 1024)

    streamed = await served.client.post("/gallery/obama", content=chunks(), headers={"Content-Type": "image/jpeg"})
    assert streamed.status_code == 413


async def test_token_is_required(served: Served, data) -> None:
    before = names(served.gallery)
    bare = {"Content-Type": "image/jpeg"}
    body = (data.knn_test / "obama1.jpg").read_bytes()
    async with httpx.AsyncClient(base_url=str(served.client.base_url)) as stranger:
        for method, path in (("POST", "/recognize"), ("POST", "/gallery/eve"), ("DELETE", "/gallery/obama")):
            response = await stranger.request(method, path, content=body, headers=bare)
            assert response.status_code == 401, (method, path)
        wrong = await stranger.delete("/gallery/obama", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
    assert names(served.gallery) == before and served.reloads == []


async def test_add_then_recognize_the_new_person(served: Served, data) -> None:
    name = "金正恩"
    response = await served.client.post(f"/gallery/{quote(name)}",
                                        **image(data.face01_gallery / "金正恩_default.png"))
    assert response.status_code == 201, response.text
    assert response.json() == {"name": name, "added": ["金正恩_default.png", "金正恩_1.png"]}
    assert served.reloads == [6]
    probe = await served.client.post("/recognize", **image(data.face01_gallery / "金正恩_67.png"))
    assert [face["name"] for face in probe.json()["faces"]] == [name]


async def test_add_refuses_bad_names_and_images(served: Served, data) -> None:
    before = names(served.gallery)
    two = await served.client.post("/gallery/eve", **image(data.knn_test / "obama_and_biden.jpg"))
    assert two.status_code == 422 and "faces found" in two.json()["error"]
    for bad in ("a_b", "Unknown", "%20"):
        response = await served.client.post(f"/gallery/{bad}", **image(data.knn_test / "obama1.jpg"))
        assert response.status_code == 400, bad
    assert names(served.gallery) == before and served.reloads == []


async def test_remove_forgets_the_person(served: Served, data) -> None:
    response = await served.client.delete("/gallery/obama")
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "obama" and len(response.json()["removed"]) == 2
    assert not (served.gallery / "obama").exists() and served.reloads == [4]
    probe = await served.client.post("/recognize", **image(data.knn_test / "obama1.jpg"))
    assert "obama" not in [face["name"] for face in probe.json()["faces"]]
    again = await served.client.delete("/gallery/obama")
    assert again.status_code == 404 and served.reloads == [4]


async def test_recognize_while_the_gallery_loads_is_503(served: Served, data) -> None:
    served.recognizer[0] = None
    response = await served.client.post("/recognize", **image(data.knn_test / "obama1.jpg"))
    assert response.status_code == 503


async def test_unicode_tricks_in_names_are_refused(served: Served, data) -> None:
    """Fullwidth UNKNOWN is Unknown once NFKC'd; a line separator, and invalid UTF-8 (U+FFFD once decoded)."""
    before = names(served.gallery)
    for bad in (quote("ＵＮＫＮＯＷＮ"), quote("a\u2028b"), "%FF%FE"):
        response = await served.client.post(f"/gallery/{bad}", **image(data.knn_test / "obama1.jpg"))
        assert response.status_code == 400, (bad, response.text)
        assert (await served.client.delete(f"/gallery/{bad}")).status_code == 400, bad
    assert "not valid UTF-8" in response.json()["error"]
    assert names(served.gallery) == before and served.reloads == []


async def test_a_symlinked_person_folder_is_neither_written_nor_emptied(served: Served, tmp_path: Path, data) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copyfile(data.knn_test / "obama1.jpg", outside / "eve_1.jpg")
    (served.gallery / "eve").symlink_to(outside)
    added = await served.client.post("/gallery/eve", **image(data.knn_test / "obama1.jpg"))
    assert added.status_code == 409 and "a symlink" in added.json()["error"], added.text
    removed = await served.client.delete("/gallery/eve")
    assert removed.status_code == 409, removed.text
    assert names(outside) == ["eve_1.jpg"] and served.reloads == []
    assert (await served.client.delete("/gallery/obama")).status_code == 200  # a real folder still is
