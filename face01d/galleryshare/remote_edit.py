"""``face01d gallery add/promote/remove`` with ``[gallery] source = "broker"``: the publisher edits.

The same checks as the local commands, made where the folder is: each
image is one request (one face each), answered with the files written in
the publisher's folder. A refusal keeps its meaning in the exit code: a bad
name or image 4 (2 for a name), a person not in the gallery 5.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from face01d.config.models import Config
from face01d.enrollment.gallery_edit import NotInGallery, find_unknown, valid_name
from face01d.enrollment.unknown import EVENT_SUFFIX
from face01d.errors import InputError
from face01d.galleryshare.requests import RequestFailed, send_request
from face01d.vision.image import read_image_bytes

_ERRORS = {400: InputError, 404: NotInGallery, 413: InputError, 422: InputError}


def shared(config: Config, gallery_dir: Path | None) -> bool:
    """True when an edit must go to the publisher: the config's gallery comes from the broker."""
    return gallery_dir is None and config.gallery.source == "broker"


def _edit(config: Config, action: str, name: str, data: bytes = b"") -> list[str]:
    return asyncio.run(edit(config, action, name, data))


async def edit(config: Config, action: str, name: str, data: bytes = b"") -> list[str]:
    """One request to the publisher: the files it wrote or removed, or its refusal as the error it means."""
    answer = await send_request(config.mqtt, config.daemon.node_id, action, name, data)
    status = int(answer.get("status", 500))
    if status >= 300:
        error = _ERRORS.get(status, RequestFailed)
        raise error(f"the gallery's publisher refused it: {answer.get('error')}")
    return [f"publisher: {file}" for file in answer.get("files", [])]


def add(config: Config, name: str, images: Sequence[Path]) -> list[str]:
    """Every image read first (a missing one sends nothing), then one request each."""
    name = valid_name(name)
    blobs = [read_image_bytes(Path(image)) for image in images]  # a regular file, bounded, or why not
    return [line for data in blobs for line in _edit(config, "add", name, data)]


def remove(config: Config, name: str) -> list[str]:
    return _edit(config, "remove", valid_name(name))


def promote(config: Config, unknown_dir: Path, event_id: str, name: str) -> list[str]:
    """Send this node's kept crop as ``name``; forget it here once the publisher has it."""
    crop = find_unknown(unknown_dir, event_id)
    written = add(config, name, [crop])
    crop.unlink(missing_ok=True)
    crop.with_suffix(EVENT_SUFFIX).unlink(missing_ok=True)
    return written
