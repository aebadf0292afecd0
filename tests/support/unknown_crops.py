"""Unknown-face crops planted as the daemon keeps them, for tests of grouping and naming strangers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from face01d.events.model import utc_iso


def keep_crop(folder: Path, source: Path, event_id: str, seen: float, camera: str = "door") -> None:
    """A crop and its event record, as face01d/enrollment/unknown.py writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, folder / f"{event_id}.jpg")
    record = {"id": event_id, "type": "unknown", "camera": camera, "name": "Unknown", "captured_at": utc_iso(seen)}
    (folder / f"{event_id}.json").write_text(json.dumps(record))
