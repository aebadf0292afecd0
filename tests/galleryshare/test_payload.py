"""The payload and manifest on their own: the same gallery gives the same bytes, and bad data is refused."""

from __future__ import annotations

import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from face01d.config.models import Config, GalleryConfig, MqttConfig
from face01d.galleryshare.manifest import GalleryTopics, Manifest, chunk_size, new_manifest, split
from face01d.galleryshare.payload import PayloadError, Settings, decode_payload, digest, encode_payload
from face01d.galleryshare.store import LastGoodCopy


def test_a_payload_decodes_to_the_same_gallery(face01_gallery, face01_config, tmp_path: Path) -> None:
    payload = encode_payload(face01_gallery, face01_config.path)
    assert encode_payload(face01_gallery, face01_config.path) == payload  # same gallery, same hash
    decoded = decode_payload(payload, tmp_path / "thumbs")
    assert decoded.names == face01_gallery.names
    assert np.array_equal(decoded.encodings, face01_gallery.encodings)
    assert set(decoded.display_images) == set(face01_gallery.people)
    for path in decoded.display_images.values():
        image = cv2.imread(str(path))
        assert image is not None and image.shape[0] <= 192
    assert all(not path.is_absolute() for path in decoded.paths)  # the publisher's folder does not leak


def test_a_tampered_payload_is_refused(face01_gallery, face01_config, tmp_path: Path) -> None:
    payload = encode_payload(face01_gallery, face01_config.path)
    with pytest.raises(PayloadError):
        decode_payload(payload[: len(payload) // 2], tmp_path)
    with pytest.raises(PayloadError):
        decode_payload(b"PK\x03\x04" + b"\x00" * 100, tmp_path)
    manifest = new_manifest(digest(payload), len(payload), 1, Settings.of(face01_config), (3, 7), "a", None)
    with pytest.raises(PayloadError, match="sha256"):
        LastGoodCopy(tmp_path).open(manifest, payload[:-1] + bytes([payload[-1] ^ 1]))


def test_a_compressed_member_is_refused(tmp_path: Path) -> None:
    """Stored members only: a deflated bomb is never inflated."""
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("gallery.json", b"{}" + b" " * 10_000_000)
    with pytest.raises(PayloadError, match="stored"):
        decode_payload(archive.read_bytes(), tmp_path)


def test_manifest_round_trip_and_bounds() -> None:
    manifest = new_manifest("ab" * 32, 1000, 4, Settings("m", "small", 1), (2, 5), "node", None)
    assert Manifest.from_json(manifest.to_json()) == manifest and manifest.version == 1
    assert new_manifest("cd" * 32, 10, 1, manifest.settings, (1, 1), "n", manifest).version == 2
    for bad in (b"{}", b"not json", manifest.to_json().replace(b'"chunks":4', b'"chunks":0'),
                manifest.to_json().replace(b"abab", b"zzzz")):
        with pytest.raises(PayloadError):
            Manifest.from_json(bad)


def test_chunks_fit_the_broker_maximum() -> None:
    topic = GalleryTopics("face01").chunk("ab" * 32, 65_536)
    size = chunk_size(4096, topic)
    assert 3500 < size < 4096 - len(topic)
    assert chunk_size(None, topic) == 128 * 1024
    assert b"".join(split(bytes(range(256)) * 40, size)) == bytes(range(256)) * 40
    with pytest.raises(PayloadError):
        chunk_size(200, topic)


def test_sharing_needs_mqtt_and_one_role() -> None:
    with pytest.raises(ValueError, match="mqtt"):
        Config(gallery=GalleryConfig(source="broker"), mqtt=MqttConfig(enabled=False))
    with pytest.raises(ValueError, match="publish"):
        GalleryConfig(publish=True, source="broker")
    assert Config(gallery=GalleryConfig(publish=True)).gallery.publish


def test_a_node_cannot_be_named_like_the_shared_gallery_or_the_worker_pool() -> None:
    """``pattern write face01/%u/#`` would otherwise let that node write the gallery, the jobs or a worker's status."""
    from face01d.config.models import DaemonConfig

    for name in ("gallery", "Gallery", "gallery-requests", "gallery-responses", "encode", "WORKERS"):
        with pytest.raises(ValueError, match="reserved"):
            DaemonConfig(node_id=name)
    assert DaemonConfig(node_id="gallery2").node_id == "gallery2"
