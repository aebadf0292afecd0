"""The page's routes: login, Cameras, Events, Unknown faces, Gallery, and the pictures they show.

Pages are rendered on the server (Jinja2, package data, no build step and
nothing fetched from elsewhere). Changes are plain form posts carrying the
session's CSRF token (``face01d.web.auth`` checks it before a route runs);
photo uploads go from the page's small script to the API's ``POST
/gallery/{name}`` with the token in a header. A change answers with a
redirect back to its page and a one-line message (post/redirect/get).
"""

from __future__ import annotations

import asyncio
import hmac
import math
import re
import tempfile
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from face01d.errors import Face01dError
from face01d.report import build_timeline, draw
from face01d.web.actions import enroll_group, remove_person, remove_photo
from face01d.web.auth import FORM_MAX_BYTES, SESSION_KEY, same_origin
from face01d.web.events_log import day_file
from face01d.web.page import STATIC, WebPage
from face01d.web.sessions import COOKIE, SESSION_TTL_S

EVENT_ID = re.compile(r"[0-9a-f]{32}")
EVENT_TYPES = ("recognized", "unknown", "left")


async def form(request: Request) -> dict[str, list[str]]:
    """A URL-encoded form's fields (bounded: a page's form is small)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_MAX_BYTES:
            break
    return parse_qs(body[:FORM_MAX_BYTES].decode("utf-8", "replace"))


def back(path: str, message: str) -> Response:
    return RedirectResponse(f"{path}?{urlencode({'msg': message})}", 303)


def render(page: WebPage, request: Request, template: str, status: int = 200, **context: object) -> Response:
    session = request.scope.get(SESSION_KEY)
    context.update(csrf=session.csrf if session is not None else "", msg=request.query_params.get("msg"),
                   logged_in=session is not None)
    return page.templates.TemplateResponse(request, template, context, status_code=status,
                                           headers={"cache-control": "no-store"})


def web_routes(page: WebPage) -> list[BaseRoute]:
    """The routes to pass to ``make_app(..., extra=...)`` beside the API's."""
    return [*_login_routes(page), *_camera_event_routes(page), *_unknown_routes(page), *_gallery_routes(page),
            Mount("/static", StaticFiles(directory=str(STATIC)), name="static")]


def _login_routes(page: WebPage) -> list[BaseRoute]:
    async def login_form(request: Request) -> Response:
        return render(page, request, "login.html")

    async def login(request: Request) -> Response:
        given = (await form(request)).get("token", [""])[0]
        if not same_origin(request.scope):
            return render(page, request, "login.html", 403, error="The login must come from this page.")
        address = request.client.host if request.client is not None else "unknown"
        wait_s = page.lockout.wait_s(address)
        if wait_s:  # the token is not even compared: guessing stays as slow as the lockout
            response = render(page, request, "login.html", 429,
                              error=f"Too many wrong tokens. Try again in {math.ceil(wait_s / 60)} min.")
            response.headers["Retry-After"] = str(wait_s)
            return response
        if not hmac.compare_digest(given.encode(), page.token.encode()):
            page.lockout.failed(address)
            return render(page, request, "login.html", 401, error="Wrong token.")
        page.lockout.succeeded(address)
        cookie, _ = page.sessions.create()
        response = RedirectResponse("/", 303)
        response.set_cookie(COOKIE, cookie, max_age=int(SESSION_TTL_S), httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    async def logout(request: Request) -> Response:
        page.sessions.end(request.cookies.get(COOKIE))
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE, httponly=True, samesite="strict")
        return response

    return [Route("/login", login_form, methods=["GET"]), Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"])]


def _camera_event_routes(page: WebPage) -> list[BaseRoute]:
    async def cameras(request: Request) -> Response:
        recent = page.events.recent()
        latest = {name: [kept for kept in recent if kept.record["camera"] == name][:5] for name in page.cameras}
        return render(page, request, "cameras.html", cameras=page.camera_rows(), latest=latest, preview=page.preview)

    async def events(request: Request) -> Response:
        chosen = {key: request.query_params.get(key, "") for key in ("camera", "person", "type")}
        shown = [kept for kept in page.events.recent()
                 if all(not value or kept.record[field] == value
                        for field, value in (("camera", chosen["camera"]), ("name", chosen["person"]),
                                             ("type", chosen["type"])))]
        names = sorted({str(kept.record["name"]) for kept in page.events.recent()})
        day = request.query_params.get("day") or date.today().isoformat()
        return render(page, request, "events.html", events=shown, chosen=chosen, cameras=page.cameras,
                      names=names, types=EVENT_TYPES, day=day)

    async def crop(request: Request) -> Response:
        kept = page.events.find(request.path_params["event_id"])
        if kept is None or kept.crop is None:
            return Response("no crop kept for this event", 404)
        return Response(kept.crop, media_type="image/jpeg", headers={"cache-control": "no-store"})

    async def timeline(request: Request) -> Response:
        try:
            day = date.fromisoformat(request.path_params["day"])
        except ValueError:
            return Response("not a day (YYYY-MM-DD)", 400)
        png = await asyncio.to_thread(_timeline_png, day_file(page.events.directory, day), day)
        return Response(png, media_type="image/png") if png else Response("no events that day", 404)

    return [Route("/", cameras), Route("/events", events), Route("/web/events/{event_id}/crop.jpg", crop),
            Route("/web/timeline/{day}.png", timeline)]


def _timeline_png(path: Path, day: date) -> bytes | None:
    """The day's timeline as ``face01d report`` draws it; None without events (runs in a thread)."""
    if not path.exists():
        return None
    timeline = build_timeline(path.read_text(encoding="utf-8").splitlines())
    if not timeline.rows():
        return None
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "timeline.png"
        draw(timeline, out, f"face01d {day.isoformat()}")
        return out.read_bytes()


def _unknown_routes(page: WebPage) -> list[BaseRoute]:
    async def unknown(request: Request) -> Response:
        groups = await page.unknown.async_groups() if page.unknown is not None else []
        people = [name for name, _, _ in page.people()]
        return render(page, request, "unknown.html", groups=groups, people=people, enabled=page.unknown is not None)

    async def crop(request: Request) -> Response:
        event_id = request.path_params["event_id"]
        if page.unknown is None or not EVENT_ID.fullmatch(event_id):
            return Response("no such crop", 404)
        path = page.unknown.directory / f"{event_id}.jpg"
        return FileResponse(path, media_type="image/jpeg") if path.is_file() else Response("no such crop", 404)

    async def enroll(request: Request) -> Response:
        fields = await form(request)
        message = await enroll_group(page, request.path_params["group_id"], fields.get("name", [""])[0],
                                     fields.get("event", []))
        return back("/unknown", message)

    async def ignore(request: Request) -> Response:
        if page.unknown is not None:
            try:
                await page.unknown.async_ignore(request.path_params["group_id"])
            except Face01dError as error:
                return back("/unknown", f"Not hidden: {error}")
        return back("/unknown", "Group hidden.")

    return [Route("/unknown", unknown), Route("/web/unknown/{event_id}.jpg", crop),
            Route("/web/unknown/{group_id}/enroll", enroll, methods=["POST"]),
            Route("/web/unknown/{group_id}/ignore", ignore, methods=["POST"])]


def _gallery_routes(page: WebPage) -> list[BaseRoute]:
    async def gallery(request: Request) -> Response:
        people = [(name, count, has_default, list(enumerate(page.photos(name))))
                  for name, count, has_default in page.people()]
        return render(page, request, "gallery.html", people=people, editable=page.enrollment is not None)

    async def photo(request: Request) -> Response:
        photos = page.photos(request.path_params["name"])
        index = request.path_params["index"]
        if index >= len(photos):
            return Response("no such photo", 404)
        return FileResponse(photos[index], headers={"cache-control": "no-store"})

    async def drop_photo(request: Request) -> Response:
        message = await remove_photo(page, request.path_params["name"], request.path_params["index"])
        return back("/gallery", message)

    async def drop_person(request: Request) -> Response:
        return back("/gallery", await remove_person(page, request.path_params["name"]))

    return [Route("/gallery", gallery), Route("/web/gallery/{name}/photo/{index:int}.jpg", photo),
            Route("/web/gallery/{name}/photo/{index:int}/remove", drop_photo, methods=["POST"]),
            Route("/web/gallery/{name}/remove", drop_person, methods=["POST"])]
