"""``face01d detect`` on a huge photo: decoded under the gallery's pixel cap, boxes in the photo's pixels.

The photo is obama.jpg (910×1137, one face) upscaled to 8000 px wide (71 Mpx).
At full size its decode alone takes over 400 MB and HOG a long time; under the
cap it is decoded at 1/8 and the box found there is mapped back. Run in a
fresh process so that its peak memory (VmHWM) is the command's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

OBAMA_BOX = (142, 617, 409, 349)  # top, right, bottom, left in obama.jpg (face_recognition's expectation)
HUGE_WIDTH = 8000
PEAK_LIMIT_KB = 350_000  # ~170 MB measured under the cap; the full-size decode alone is over 400 MB
MIN_IOU = 0.7

SCRIPT = """
import json, re, sys
from pathlib import Path
from face01d.config.models import DetectorConfig
from face01d.oneshot import detect_paths
records = list(detect_paths([Path(sys.argv[1])], DetectorConfig(kind="hog", upsampling=0), None))
peak = int(re.search(r"VmHWM:\\s*(\\d+)", Path("/proc/self/status").read_text()).group(1))
print(json.dumps({"records": records, "peak_kb": peak}))
"""


@pytest.fixture(scope="module")
def huge_obama(data, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """The upscaled photo and its scale from obama.jpg."""
    small = cv2.imread(str(data("face_recognition/test_images/obama.jpg")))
    scale = HUGE_WIDTH / small.shape[1]
    path = tmp_path_factory.mktemp("huge-detect") / "obama_huge.jpg"
    cv2.imwrite(str(path), cv2.resize(small, (HUGE_WIDTH, round(small.shape[0] * scale)), cv2.INTER_LINEAR))
    return path, scale


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (top, right, bottom, left) boxes."""
    height = min(a[2], b[2]) - max(a[0], b[0])
    width = min(a[1], b[1]) - max(a[3], b[3])
    inter = max(height, 0) * max(width, 0)
    area = lambda box: (box[2] - box[0]) * (box[1] - box[3])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def test_detect_on_a_huge_photo_reports_its_one_face_in_the_photos_pixels(huge_obama) -> None:
    path, scale = huge_obama
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(path)], capture_output=True, text=True,
                            timeout=300, check=True)
    answer = json.loads(result.stdout.splitlines()[-1])
    [record] = answer["records"]
    box = tuple(record["box"][side] for side in ("top", "right", "bottom", "left"))
    expected = tuple(round(value * scale) for value in OBAMA_BOX)
    assert iou(box, expected) >= MIN_IOU, f"box {box}, expected about {expected}"
    assert answer["peak_kb"] < PEAK_LIMIT_KB, f"peak RSS {answer['peak_kb'] // 1024} MB"
