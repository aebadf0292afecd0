"""The last good copy: the newest verified payload, on disk, so a node starts while the broker is down.

One file holds the manifest (first line) and the payload after it, written
whole (temp file, fsync, rename, fsync of the folder): a power cut leaves
the previous copy or the new one, never a mix. Reading verifies the hash
again; a damaged copy is reported and ignored, not trusted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import structlog

from face01d.config.models import GalleryConfig
from face01d.gallery.cache import default_cache_dir
from face01d.gallery.model import Gallery
from face01d.galleryshare.manifest import Manifest
from face01d.galleryshare.payload import PayloadError, decode_payload, digest
from face01d.private_files import write_private_atomic

log = structlog.get_logger(__name__)

COPY_FILENAME = "shared-gallery-v1.bin"
THUMBS_DIRNAME = "shared-thumbs"


@dataclass(frozen=True, slots=True)
class SharedCopy:
    """A verified version: its manifest and the gallery decoded from it."""

    manifest: Manifest
    gallery: Gallery


def store_dir(config: GalleryConfig) -> Path:
    """Beside the folder gallery's encoding cache: ``[gallery] cache_dir`` or the default one."""
    return Path(config.cache_dir) if config.cache_dir is not None else default_cache_dir(config.path)


class LastGoodCopy:
    """Reads and writes the last good copy under ``folder`` (blocking: call from a thread)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / COPY_FILENAME

    def open(self, manifest: Manifest, payload: bytes) -> SharedCopy:
        """Decode a verified payload, its thumbnails written under a folder of its own hash."""
        if digest(payload) != manifest.sha256 or len(payload) != manifest.size:
            raise PayloadError("the payload does not match its manifest's sha256 and size")
        gallery = decode_payload(payload, self.folder / THUMBS_DIRNAME / manifest.sha256[:16])
        return SharedCopy(manifest, gallery)

    def save(self, manifest: Manifest, payload: bytes) -> None:
        write_private_atomic(self.path, manifest.to_json() + b"\n" + payload, durable=True)
        _fsync_dir(self.folder)
        self._prune(keep=manifest.sha256[:16])

    def load(self) -> SharedCopy | None:
        """The copy on disk, verified; None (logged) when there is none or it is damaged."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            log.warning("gallery_share.copy_unreadable", path=str(self.path), error=str(error))
            return None
        head, _, payload = data.partition(b"\n")
        try:
            return self.open(Manifest.from_json(head), payload)
        except PayloadError as error:
            log.warning("gallery_share.copy_damaged", path=str(self.path), error=str(error))
            return None

    def _prune(self, keep: str) -> None:
        """Thumbnail folders of older versions (the live view holds no file open for long)."""
        root = self.folder / THUMBS_DIRNAME
        for folder in root.iterdir() if root.is_dir() else ():
            if folder.name != keep:
                shutil.rmtree(folder, ignore_errors=True)


def _fsync_dir(folder: Path) -> None:
    """The rename itself survives a power cut only once the folder is synced."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
