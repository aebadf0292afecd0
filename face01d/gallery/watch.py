"""Noticing gallery edits without a restart: inotify through watchfiles, one reload per burst.

Copying ten photos into the gallery, or ``face01d gallery add``, is a burst
of file events; the daemon should rebuild once, after the burst, not ten
times. ``watchfiles`` (Rust ``notify``: inotify on Linux) gathers a burst
into one set (``QUIET_MS`` without a change ends it, and a long copy is cut
every ``MAX_BURST_MS`` so the daemon sees new people while it lasts), and
each set that holds a gallery image means one ``on_change()``. Hidden files (temp files of an
atomic write, the ``.face01d-cache`` folder, editors' swap files) are not
gallery files and never trigger a reload. A watch that fails (the folder was
removed, the inotify limit reached) is retried every ``RETRY_S``: the daemon
keeps running with the gallery it has.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import structlog
from watchfiles import Change, awatch

from face01d.gallery.layout import IMAGE_SUFFIXES

log = structlog.get_logger(__name__)

QUIET_MS = 300  # this long without a change ends a burst (watchfiles' ``step``)
MAX_BURST_MS = 5000  # a burst is gathered at most this long (watchfiles' ``debounce``)
RETRY_S = 10.0  # wait before watching again after the watch failed


def is_gallery_file(root: Path, path: str) -> bool:
    """A change that can alter the gallery: an image, or a folder (a person's, which may arrive
    already full: inotify cannot watch it in time to see its files), nothing hidden on the way."""
    candidate = Path(path)
    if candidate.suffix.lower() not in IMAGE_SUFFIXES | {""}:  # no suffix: a folder, or a harmless reload
        return False
    try:
        parts = candidate.relative_to(root).parts
    except ValueError:
        parts = candidate.parts
    return not any(part.startswith(".") or part.endswith("~") for part in parts)


async def watch_gallery(path: Path, on_change: Callable[[], object], stop: asyncio.Event) -> None:
    """Call ``on_change()`` once per burst of gallery file changes under ``path``, until ``stop`` is set."""
    root = Path(path).absolute()
    while not stop.is_set():
        try:
            await _watch(root, on_change, stop)
        except (OSError, RuntimeError) as error:  # folder missing, inotify limits: retry, never crash the daemon
            log.warning("gallery watch failed, retrying", path=str(root), error=str(error), retry_s=RETRY_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_S)


async def _watch(root: Path, on_change: Callable[[], object], stop: asyncio.Event) -> None:
    def relevant(change: Change, changed: str) -> bool:
        return is_gallery_file(root, changed)

    log.info("watching gallery", path=str(root))
    async for changes in awatch(root, watch_filter=relevant, debounce=MAX_BURST_MS, step=QUIET_MS,
                                stop_event=stop, recursive=True):
        log.info("gallery changed", path=str(root), files=sorted({changed for _, changed in changes})[:10],
                 changes=len(changes))
        _notify(on_change)


def _notify(on_change: Callable[[], object]) -> None:
    """Call the callback; its bug is logged, and the watch goes on."""
    try:
        on_change()
    except Exception:
        log.exception("gallery change callback failed")
