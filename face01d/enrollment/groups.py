"""Unknown faces grouped by who they are, to enroll a stranger in one step.

A visitor seen on ten days leaves ten crops in ``unknown_dir``; promoting
them one event id at a time is ten commands and a guess that they are the
same person. ``UnknownGroups`` encodes each kept crop once (crop_cache.py),
clusters the encodings (clustering.py) and lists the groups biggest first,
each with its crops (newest first) and first and last sighting. Crops that
the current gallery already recognises are left out, so a group leaves the
list once its person is enrolled; ignored groups are hidden (the choice is
kept in ``<unknown_dir>/.ignored-groups.json``, hidden from retention).

A group's id is derived from its oldest crop's event id: crops seen later
join the group without changing its id, so a page, a shell and an ignore
list all keep naming the same group. ``promote`` enrolls the chosen crops
through the gallery's own checks (one face each) and removes them from
``unknown_dir``, as ``gallery promote`` does for one crop.

The methods are synchronous and may encode new crops (seconds): the daemon
calls the ``async_*`` twins, which run them on one thread of their own (one
set of dlib models, one encoding at a time), never on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import structlog

from face01d.config.models import GalleryConfig
from face01d.enrollment.clustering import GROUP_DISTANCE, cluster
from face01d.enrollment.crop_cache import (
    CropRecord, EncodeFaces, cache_mtime, encode_crop, load_cache, read_event, save_cache, scan_crops,
)
from face01d.enrollment.gallery_edit import Upload, check_upload, valid_name, write_uploads
from face01d.enrollment.unknown import EVENT_SUFFIX
from face01d.errors import Face01dError, GalleryError, InputError
from face01d.gallery.matching import Matcher
from face01d.gallery.model import Gallery
from face01d.private_files import write_private_atomic
from face01d.recognition.recognizer import gallery_encoder, gallery_settings_key, load_gallery
from face01d.safe_files import read_regular
from face01d.vision.image import MAX_IMAGE_BYTES

if TYPE_CHECKING:
    from face01d.config.models import Config

log = structlog.get_logger(__name__)

IGNORED_NAME = ".ignored-groups.json"
GROUP_ID_CHARS = 12
CHECKPOINT_EVERY = 50  # crops encoded between two saves of the encoding cache
Recognisable = Callable[[np.ndarray], np.ndarray]  # (N, 128) encodings → N bools: the gallery names it
T = TypeVar("T")


class GroupNotFound(InputError):
    """A group id that names no current group (promoted, pruned, or recognised meanwhile)."""


@dataclass(frozen=True)
class UnknownCrop:
    """One kept crop of an ``unknown`` event; ``encoding`` is None when no face was found in it."""

    event_id: str
    crop_path: Path
    camera: str
    seen_at: datetime  # the event's captured_at (UTC)
    encoding: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class UnknownGroup:
    """Crops of one (presumed) person, newest first; ``id`` stays as later crops join."""

    id: str
    crops: tuple[UnknownCrop, ...]
    first_seen: datetime
    last_seen: datetime

    @property
    def size(self) -> int:
        return len(self.crops)

    def as_dict(self) -> dict[str, object]:
        """The JSON line of ``face01d unknown groups``."""
        return {"group": self.id, "size": self.size, "crops": [crop.event_id for crop in self.crops],
                "cameras": sorted({crop.camera for crop in self.crops if crop.camera}),
                "first_seen": _iso(self.first_seen), "last_seen": _iso(self.last_seen)}


@dataclass(frozen=True)
class PromoteResult:
    """What ``promote`` did: the crops enrolled (and the gallery files written) and those refused, with why."""

    name: str
    added: tuple[str, ...]
    written: tuple[Path, ...]
    refused: tuple[tuple[str, str], ...]  # (event id, reason)


def group_id(oldest_event_id: str) -> str:
    """The id of the group whose oldest crop is that event's."""
    return hashlib.sha1(oldest_event_id.encode()).hexdigest()[:GROUP_ID_CHARS]


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _crop(record: CropRecord) -> UnknownCrop:
    seen = datetime.fromtimestamp(record.seen_at, tz=timezone.utc)
    return UnknownCrop(record.event_id, record.crop_path, record.camera, seen, record.encoding)


def make_group(records: Sequence[CropRecord]) -> UnknownGroup:
    """One group of crops: newest first, named after the oldest (ties: the smaller event id)."""
    ordered = sorted(records, key=lambda r: (-r.seen_at, r.event_id))
    oldest = min(records, key=lambda r: (r.seen_at, r.event_id))
    crops = tuple(_crop(record) for record in ordered)
    return UnknownGroup(group_id(oldest.event_id), crops, crops[-1].seen_at, crops[0].seen_at)


def group_records(records: Sequence[CropRecord], threshold: float = GROUP_DISTANCE) -> list[UnknownGroup]:
    """Cluster the crops with a face; each crop without one is a group of its own. Biggest first,
    then the most recently seen."""
    with_face = [record for record in records if record.encoding is not None]
    labels = cluster(np.array([r.encoding for r in with_face]).reshape(-1, 128), threshold)
    members: dict[int, list[CropRecord]] = {}
    for label, record in zip(labels.tolist(), with_face):
        members.setdefault(label, []).append(record)
    groups = [make_group(group) for group in members.values()]
    groups += [make_group([record]) for record in records if record.encoding is None]
    return sorted(groups, key=lambda g: (-g.size, -g.last_seen.timestamp(), g.id))


def gallery_recognises(current: Callable[[], Gallery | None], tolerance: float) -> Recognisable:
    """A ``Recognisable`` against whatever gallery ``current`` returns now (the daemon's reloads
    included); a gallery-less one recognises nobody. The matcher is rebuilt only when it changes."""
    last: list[tuple[Gallery, Matcher]] = []

    def recognises(encodings: np.ndarray) -> np.ndarray:
        gallery = current()
        if gallery is None or len(gallery) == 0 or len(encodings) == 0:
            return np.zeros(len(encodings), dtype=bool)
        if not last or last[0][0] is not gallery:
            last[:] = [(gallery, Matcher(gallery, tolerance))]
        return np.array([match.known for match in last[0][1].match(encodings)], dtype=bool)

    return recognises


def folder_recognises(config: GalleryConfig) -> Recognisable | None:
    """For the shell: the gallery folder as the daemon loads it (cached encodings); None when there
    is no usable gallery (nothing is recognisable then)."""
    try:
        gallery, _ = load_gallery(config)
    except GalleryError as error:
        log.info("no gallery to leave recognised crops out", error=str(error))
        return None
    return gallery_recognises(lambda: gallery, config.effective_tolerance)


class UnknownGroups:
    """The groups of ``unknown_dir``'s crops (see the module); safe to share between threads."""

    def __init__(self, unknown_dir: Path, gallery: GalleryConfig, recognisable: Recognisable | None = None, *,
                 threshold: float = GROUP_DISTANCE, encode_faces: EncodeFaces | None = None) -> None:
        self.directory = Path(unknown_dir)
        self._gallery = gallery
        self._recognisable = recognisable
        self._threshold = threshold
        self._encode = encode_faces or gallery_encoder(gallery)
        self._settings = gallery_settings_key(gallery)
        self._records: dict[str, CropRecord] = {}
        self._cache_mtime: int | None = None
        self._lock = threading.RLock()
        self._executor: ThreadPoolExecutor | None = None

    # --- reading -------------------------------------------------------------------------------

    def groups(self) -> list[UnknownGroup]:
        """The groups to show: biggest first, without ignored groups and crops the gallery now names."""
        ignored = _load_ignored(self.directory)
        members = {event_id for ids in ignored.values() for event_id in ids}
        return [group for group in self._all_groups() if not _is_ignored(group, ignored, members)]

    def group(self, group_id: str) -> UnknownGroup | None:
        """The group of that id (an ignored one too, so it can still be enrolled), or None."""
        return next((group for group in self._all_groups() if group.id == group_id), None)

    def _all_groups(self) -> list[UnknownGroup]:
        with self._lock:
            records = self._current_records()
        if records and self._recognisable is not None:
            encoded = [r for r in records if r.encoding is not None]
            named = self._recognisable(np.array([r.encoding for r in encoded]).reshape(-1, 128))
            known = {r.event_id for r, hit in zip(encoded, named) if hit}
            records = [r for r in records if r.event_id not in known]
        return group_records(records, self._threshold)

    def _current_records(self) -> list[CropRecord]:
        """Every kept crop's record: from memory, from the cache file, else encoded now (and cached)."""
        mtime = cache_mtime(self.directory)
        if mtime != self._cache_mtime:  # written by another process (the CLI beside the daemon)
            self._records.update(load_cache(self.directory, self._settings))
            self._cache_mtime = mtime
        fresh: dict[str, CropRecord] = {}
        encoded = 0
        for event_id, (path, stamp) in scan_crops(self.directory).items():
            fresh[event_id] = record = self._record(event_id, path, stamp)
            if record is self._records.get(event_id):
                continue
            encoded += 1
            if encoded % CHECKPOINT_EVERY == 0:  # a first view of 1,000 crops takes a minute
                self._save({**self._records, **fresh})
        if fresh.keys() != self._records.keys() or encoded:
            self._save(fresh)
        self._records = fresh
        return list(fresh.values())

    def _save(self, records: dict[str, CropRecord]) -> None:
        if self.directory.is_dir():
            save_cache(self.directory, self._settings, list(records.values()))
            self._cache_mtime = cache_mtime(self.directory)

    def _record(self, event_id: str, path: Path, stamp: tuple[int, int]) -> CropRecord:
        known = self._records.get(event_id)
        if known is not None and known.stamp == stamp:
            return known
        camera, seen_at = read_event(path, stamp)
        return CropRecord(event_id, path, camera, seen_at, stamp, encode_crop(path, self._encode))

    # --- acting --------------------------------------------------------------------------------

    def ignore(self, group_id: str) -> None:
        """Hide the group from ``groups()`` for good (its later crops too); GroupNotFound if none."""
        group = self.require(group_id)
        with self._lock:
            ignored = _load_ignored(self.directory)
            live = set(scan_crops(self.directory))
            kept = {gid: ids for gid, ids in ignored.items() if live.intersection(ids)}  # forget the gone
            kept[group.id] = sorted(crop.event_id for crop in group.crops)
            write_private_atomic(self.directory / IGNORED_NAME, json.dumps({"groups": kept}, indent=1).encode())
        log.info("unknown group ignored", group=group.id, crops=group.size)

    def promote(self, group_id: str, name: str, event_ids: Sequence[str] | None = None) -> PromoteResult:
        """Enroll the chosen crops of the group (all by default) as ``name``, new or existing.

        Each crop passes the gallery's one-face check or is refused with the
        reason; the others are written together and removed from
        ``unknown_dir``. InvalidName, GroupNotFound or GalleryError (no
        gallery folder) raise before anything is written.
        """
        name = valid_name(name)
        group = self.require(group_id)
        chosen, refused = _choose(group, event_ids)
        with self._lock:
            uploads: list[tuple[UnknownCrop, Upload]] = []
            for crop in chosen:
                try:
                    uploads.append((crop, self._checked(crop)))
                except Face01dError as error:
                    refused.append((crop.event_id, str(error)))
            written = write_uploads(self._gallery, name, [upload for _, upload in uploads]) if uploads else []
            for crop, _ in uploads:
                _forget(crop)
        added = tuple(crop.event_id for crop, _ in uploads)
        log.info("unknown group promoted", group=group.id, name=name, added=len(added), refused=len(refused))
        return PromoteResult(name, added, tuple(written), tuple(refused))

    def _checked(self, crop: UnknownCrop) -> Upload:
        try:
            data = read_regular(crop.crop_path, MAX_IMAGE_BYTES)
        except OSError as error:
            raise InputError(f"{crop.event_id}: the crop cannot be read ({error})") from None
        return check_upload(self._gallery, data, crop.event_id)

    def require(self, group_id: str) -> UnknownGroup:
        """The group of that id; GroupNotFound (exit 4 in the shell) if there is none."""
        group = self.group(group_id.strip().lower())
        if group is None:
            raise GroupNotFound(f"no unknown group {group_id!r} (promoted, pruned or recognised since?)")
        return group

    # --- from the event loop ---------------------------------------------------------------------

    async def async_groups(self) -> list[UnknownGroup]:
        return await self._off_loop(self.groups)

    async def async_group(self, group_id: str) -> UnknownGroup | None:
        return await self._off_loop(lambda: self.group(group_id))

    async def async_ignore(self, group_id: str) -> None:
        await self._off_loop(lambda: self.ignore(group_id))

    async def async_promote(self, group_id: str, name: str, event_ids: Sequence[str] | None = None) -> PromoteResult:
        return await self._off_loop(lambda: self.promote(group_id, name, event_ids))

    async def async_promote_through(self, enroll: Callable[[str, bytes], Awaitable[Sequence[str]]], group_id: str,
                                    name: str, event_ids: Sequence[str] | None = None) -> PromoteResult:
        """``promote`` for a gallery kept elsewhere (a shared gallery's publisher): each chosen crop goes
        to ``enroll(name, image bytes)``, which checks it there and answers the files written or raises
        Face01dError with the reason; a crop leaves ``unknown_dir`` once it is enrolled."""
        name = valid_name(name)
        group = await self._off_loop(partial(self.require, group_id))
        chosen, refused = _choose(group, event_ids)
        added: list[str] = []
        written: list[Path] = []
        for crop in chosen:
            try:
                data = await self._off_loop(partial(read_regular, crop.crop_path, MAX_IMAGE_BYTES))
                written += [Path(file) for file in await enroll(name, data)]
            except OSError as error:
                refused.append((crop.event_id, f"{crop.event_id}: the crop cannot be read ({error})"))
                continue
            except Face01dError as error:
                refused.append((crop.event_id, str(error)))
                continue
            await self._off_loop(partial(_forget, crop))
            added.append(crop.event_id)
        log.info("unknown group promoted", group=group.id, name=name, added=len(added), refused=len(refused),
                 shared=True)
        return PromoteResult(name, tuple(added), tuple(written), tuple(refused))

    async def _off_loop(self, call: Callable[[], T]) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="unknown-groups")
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def close(self) -> None:
        """Let the async twins' thread go (a call in flight finishes first)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


def promote_group(config: Config, gallery: GalleryConfig, unknown_dir: Path, group_id: str, name: str, *,
                  shared: bool, warn: Callable[[str], None]) -> list[Path]:
    """``face01d gallery promote --group ID NAME``: every crop of the group as ``name``; each refused
    crop is one ``warn`` line; InputError when none could be added. ``shared``: the gallery comes from
    the broker, so each crop goes to the publisher as ``gallery promote`` sends one."""
    groups = UnknownGroups(unknown_dir, gallery, folder_recognises(gallery))
    if shared:
        result = _promote_remotely(config, groups, group_id, name)
    else:
        result = groups.promote(group_id, name)
    for _, reason in result.refused:
        warn(f"refused: {reason}")
    if not result.added:
        raise InputError(f"no crop of group {group_id} was added to the gallery")
    return list(result.written)


def _promote_remotely(config: Config, groups: UnknownGroups, group_id: str, name: str) -> PromoteResult:
    """The page's way (``async_promote_through``), with the shell's request to the publisher."""
    from face01d.galleryshare import remote_edit  # noqa: PLC0415 - MQTT only when the gallery is shared

    async def enroll(person: str, data: bytes) -> list[str]:
        return await remote_edit.edit(config, "add", person, data)

    try:
        return asyncio.run(groups.async_promote_through(enroll, group_id, name))
    finally:
        groups.close()


def _forget(crop: UnknownCrop) -> None:
    """An enrolled crop leaves ``unknown_dir``, with its event record."""
    crop.crop_path.unlink(missing_ok=True)
    crop.crop_path.with_suffix(EVENT_SUFFIX).unlink(missing_ok=True)


def _choose(group: UnknownGroup, event_ids: Sequence[str] | None) -> tuple[list[UnknownCrop], list[tuple[str, str]]]:
    """The group's crops named by ``event_ids`` (all when None), and the ids it does not hold, refused."""
    if event_ids is None:
        return list(group.crops), []
    wanted = [event_id.strip().lower() for event_id in event_ids]
    by_id = {crop.event_id: crop for crop in group.crops}
    chosen = [by_id[event_id] for event_id in dict.fromkeys(wanted) if event_id in by_id]
    refused = [(event_id, f"{event_id}: not a crop of group {group.id}")
               for event_id in wanted if event_id not in by_id]
    return chosen, refused


def _load_ignored(directory: Path) -> dict[str, list[str]]:
    """Ignored group ids with the event ids they held when ignored; {} when none (or unreadable)."""
    try:
        groups = json.loads((directory / IGNORED_NAME).read_text(encoding="utf-8"))["groups"]
        return {str(gid): [str(event_id) for event_id in ids] for gid, ids in groups.items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        log.warning("ignored unknown groups unreadable", path=str(directory / IGNORED_NAME), error=str(error))
        return {}


def _is_ignored(group: UnknownGroup, ignored: dict[str, list[str]], members: set[str]) -> bool:
    """Ignored by id, or (its oldest crop pruned since, so its id changed) half its crops were ignored."""
    if group.id in ignored:
        return True
    return 2 * sum(crop.event_id in members for crop in group.crops) >= group.size
