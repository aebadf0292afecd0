"""Frames per second of face01d's recognition against face_recognition's loop.

One command, one run, one baseline:

    .venv/bin/python bench/throughput.py [--frames 20] [--video PATH]

The baseline is what a face_recognition script does on every frame:
``face_locations`` (HOG, one upsampling pass, full resolution) then
``face_encodings``. face01d's ``Recognizer`` (detection, encoding and
matching against the sample gallery) is then timed with a few detector
settings on the same frames, and each is printed as frames/s and as a
ratio to the baseline measured in this run. Single thread, so the numbers
say what one worker does; the daemon runs one worker per camera frame in
flight.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import face_recognition
import numpy as np

from face01d.config.models import DetectorConfig, DetectorKind, GalleryConfig
from face01d.recognition.recognizer import Recognizer, load_gallery

DATA = Path(os.environ.get("FACE01D_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

VARIANTS = {
    "face01d hog, set_width 640": DetectorConfig(kind=DetectorKind.HOG, upsampling=1, set_width=640),
    "face01d hog, set_width 960": DetectorConfig(kind=DetectorKind.HOG, upsampling=1, set_width=960),
    "face01d mediapipe short": DetectorConfig(kind=DetectorKind.MEDIAPIPE, mediapipe_model="short"),
    "face01d mediapipe full": DetectorConfig(kind=DetectorKind.MEDIAPIPE, mediapipe_model="full"),
}


def read_frames(video: Path, count: int) -> list[np.ndarray]:
    """``count`` frames spread over the whole video (BGR, as a camera gives them)."""
    capture = cv2.VideoCapture(str(video))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or count
    wanted = set(np.linspace(0, total - 1, count).astype(int).tolist())
    frames, index = [], 0
    while len(frames) < len(wanted):
        ok, frame = capture.read()
        if not ok:
            break
        if index in wanted:
            frames.append(frame)
        index += 1
    capture.release()
    return frames


def baseline(frame: np.ndarray) -> int:
    rgb = np.ascontiguousarray(frame[:, :, ::-1])
    return len(face_recognition.face_encodings(rgb, face_recognition.face_locations(rgb)))


def timed(label: str, step: Callable[[np.ndarray], int], frames: list[np.ndarray]) -> float:
    step(frames[0])  # load models outside the timing
    started = time.perf_counter()
    faces = sum(step(frame) for frame in frames)
    seconds = time.perf_counter() - started
    print(f"  {label:32} {len(frames) / seconds:7.2f} frames/s  {1000 * seconds / len(frames):7.0f} ms/frame"
          f"  {faces:3} faces", end="")
    return len(frames) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--video", type=Path, default=DATA / "face01/video/kim_jong_un_alone.mp4")
    parser.add_argument("--gallery", type=Path, default=DATA / "face01/gallery")
    args = parser.parse_args()
    frames = read_frames(args.video, args.frames)
    height, width = frames[0].shape[:2]
    print(f"{args.video.name}: {len(frames)} frames of {width}x{height}, one thread")
    gallery_config = GalleryConfig(path=args.gallery)
    gallery, _ = load_gallery(gallery_config)
    base = timed("face_recognition loop (baseline)", baseline, frames)
    print("   1.00x")
    for label, detector in VARIANTS.items():
        recognizer = Recognizer(detector, gallery_config, gallery)
        speed = timed(label, lambda frame, r=recognizer: len(r.recognize(frame)), frames)
        print(f"  {speed / base:5.2f}x")


if __name__ == "__main__":
    main()
