"""What the page's forms change: a group of unknown crops enrolled, a photo or a person removed.

Enrolling is ``UnknownGroups.promote`` (the gallery's own one-face check per
crop; a crop that fails is named in the message and the others are still
enrolled, and leave the unknown folder), then the daemon's reload, so the
next frame of that face is named. On a node whose gallery comes from the
broker, each crop goes to the publisher instead, through the enrollment
API, which answers once this node runs the new version. Removing goes
through the enrollment API.
Each function answers the one-line message the page shows next.
"""

from __future__ import annotations

import asyncio
import inspect
from functools import partial
from pathlib import Path

import structlog

from face01d.enrollment.gallery_edit import valid_name
from face01d.enrollment.routes import EnrollmentApi, Refused
from face01d.errors import Face01dError, InputError
from face01d.web.page import WebPage

log = structlog.get_logger(__name__)


async def enroll_group(page: WebPage, group_id: str, name: str, event_ids: list[str]) -> str:
    """Enroll the chosen crops of one group as ``name`` (new or existing), then reload; the message."""
    if page.unknown is None:
        return "Unknown faces are not kept on this daemon."
    if not event_ids:
        return "Not enrolled: choose at least one face."
    enrollment = page.enrollment
    shared = enrollment is not None and enrollment.shared
    try:
        if shared:
            result = await page.unknown.async_promote_through(partial(_enroll_on_publisher, enrollment), group_id,
                                                              name, event_ids)
        else:
            result = await page.unknown.async_promote(group_id, name, event_ids)
    except Face01dError as error:
        return f"Not enrolled: {error}"
    if result.added and not shared:  # a shared gallery's answer came once the new version was swapped in
        await _reloaded(page)
    refused = "; ".join(f"{event_id[:8]}: {reason}" for event_id, reason in result.refused)
    return f"Enrolled {len(result.added)} face(s) as {result.name}." + (f" Refused: {refused}" if refused else "")


async def _enroll_on_publisher(enrollment: EnrollmentApi, name: str, data: bytes) -> list[str]:
    """One crop added by the shared gallery's publisher; its refusal (no face, a bad name) is the reason."""
    try:
        return await enrollment.add(name, data)
    except Refused as refusal:
        raise InputError(str(refusal)) from None


async def _reloaded(page: WebPage) -> None:
    """The daemon's reload, awaited when it can be: the next page already knows the new person."""
    result = page.reload()
    if inspect.isawaitable(result):
        await result


async def remove_person(page: WebPage, name: str) -> str:
    if page.enrollment is None:
        return "The gallery cannot be edited on this daemon."
    try:
        removed = await page.enrollment.remove(valid_name(name))
    except Face01dError as error:
        return f"Not removed: {error}"
    return f"Removed {name} ({len(removed)} image(s))."


async def remove_photo(page: WebPage, name: str, index: int) -> str:
    """Delete one image of ``name``, then reload; refused for a file outside the gallery folder."""
    photos = page.photos(name)
    if page.enrollment is None or index >= len(photos):
        return "No such photo."
    path = photos[index]
    root = Path(page.enrollment.gallery.path).resolve()
    if path.is_symlink() or path.parent.is_symlink() or root not in path.resolve().parents:
        return "Not removed: the file is not inside the gallery folder."
    await asyncio.to_thread(path.unlink, missing_ok=True)
    log.info("gallery photo removed from the page", name=name, path=str(path))
    await _reloaded(page)
    return f"Removed {path.name}."
