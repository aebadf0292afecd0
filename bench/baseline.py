"""The baseline: face_recognition's own fast webcam loop over a video file.

This is ``examples/facerec_from_webcam_faster.py`` from the face_recognition
project with the camera replaced by the video file and the window removed:
read a frame, ``cv2.resize(fx=0.25, fy=0.25)``, BGR→RGB, ``face_locations``
(HOG, one upsampling pass, the default), ``face_encodings``, then the nearest
gallery encoding with ``compare_faces`` at tolerance 0.6. The example analyses
every other frame (``process_this_frame``) and shows the last names on the
frame between: ``--every 2`` runs it so, ``--every 1`` analyses every frame.
Either way frames/s is frames read per second of the loop (decode included),
from the first frame read to the last frame analysed, as face01d's ratios
count it (bench/e2e.py: its camera report's ``first_frame_at`` and
``last_analysed_at``), and ``analysed_fps`` is the frames that went through
detection per second. The gallery is encoded with face_recognition, and the
video opened, before the clock starts.

    .venv/bin/python bench/baseline.py [--scale 0.25] [--every 1] [--frames 0] [--video V] [--gallery G]

Prints one JSON line: frames, analysed, seconds, fps, analysed_fps, faces and the names reported.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import cv2
import face_recognition
import numpy as np

from common import GALLERY, KIM_VIDEO

TOLERANCE = 0.6  # face_recognition's default, as in the example


def encode_gallery(folder: Path) -> tuple[list[np.ndarray], list[str], list[str]]:
    """One encoding per image (FACE01 naming: the name is the text before the first ``_``)."""
    encodings, names, without_face = [], [], []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            continue
        found = face_recognition.face_encodings(face_recognition.load_image_file(str(path)))
        if not found:
            without_face.append(path.name)
            continue
        encodings.append(found[0])
        names.append(path.stem.split("_", 1)[0])
    return encodings, names, without_face


def name_faces(rgb: np.ndarray, known: list[np.ndarray], names: list[str]) -> list[str]:
    """The example's per-frame body: locations, encodings, nearest match within the tolerance."""
    face_locations = face_recognition.face_locations(rgb)
    face_encodings = face_recognition.face_encodings(rgb, face_locations)
    found = []
    for face_encoding in face_encodings:
        matches = face_recognition.compare_faces(known, face_encoding, tolerance=TOLERANCE)
        best = int(np.argmin(face_recognition.face_distance(known, face_encoding)))
        found.append(names[best] if matches[best] else "Unknown")
    return found


def loop(video: Path, scale: float, every: int, limit: int, known: list[np.ndarray],
         names: list[str]) -> dict[str, object]:
    """Read every frame; analyse one in ``every`` (the example: 2), keeping the last names between."""
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise SystemExit(f"cannot open {video}")
    reported: Counter[str] = Counter()
    frames = analysed = 0
    shown: list[str] = []
    started: float | None = None
    while not limit or frames < limit:
        ok, frame = capture.read()
        if not ok:
            break
        started = time.perf_counter() if started is None else started  # the first frame read, as face01d's
        if frames % every == 0:
            small = cv2.resize(frame, (0, 0), fx=scale, fy=scale) if scale != 1.0 else frame
            shown = name_faces(cv2.cvtColor(small, cv2.COLOR_BGR2RGB), known, names)
            analysed += 1
        reported.update(shown)
        frames += 1
    seconds = time.perf_counter() - started if started is not None else 0.0
    capture.release()
    return {"frames": frames, "analysed": analysed, "every": every, "seconds": round(seconds, 3),
            "fps": frames / seconds if seconds else None, "analysed_fps": analysed / seconds if seconds else None,
            "faces": sum(reported.values()), "names": dict(reported.most_common())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=KIM_VIDEO)
    parser.add_argument("--gallery", type=Path, default=GALLERY)
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--every", type=int, default=1, help="analyse one frame in N (the example as written: 2)")
    parser.add_argument("--frames", type=int, default=0, help="stop after N frames (0: the whole video)")
    args = parser.parse_args()
    known, names, without_face = encode_gallery(args.gallery)
    if not known:
        raise SystemExit(f"no usable face in {args.gallery}")
    result = loop(args.video, args.scale, max(1, args.every), args.frames, known, names)
    result.update(scale=args.scale, gallery_encodings=len(known), gallery_without_face=without_face)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
