"""LFW View 1 pair accuracy: face01d's vision pipeline against face_recognition's.

Both pipelines use the same dlib models (HOG detector with one upsampling
pass, 5-point alignment, 128-D ResNet) and the same tolerance, so face01d
must not score lower: a gap points at a bug in colour order, resizing or
alignment. Each unique image is encoded once per pipeline. A pair where a
face is missing in either image counts as an error (never dropped).

    .venv/bin/python bench/lfw_accuracy.py [--pairs test|train] [--limit N]
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parent.parent
PAIR_FILES = {"test": "pairsDevTest.txt", "train": "pairsDevTrain.txt"}

Encoder = Callable[[Path], "np.ndarray | None"]


@dataclass(frozen=True)
class Pair:
    first: Path
    second: Path
    same: bool


@dataclass(frozen=True)
class Result:
    name: str
    correct_same: int
    correct_different: int
    same: int
    different: int
    no_face_pairs: int
    no_face_images: list[str]
    seconds: float
    images: int

    @property
    def accuracy(self) -> float:
        return (self.correct_same + self.correct_different) / (self.same + self.different)


def lfw_root(explicit: str | None) -> Path:
    """--data, else $FACE01D_DATA/lfw_view1, else the shared data beside the repo."""
    if explicit:
        return Path(explicit)
    base = os.environ.get("FACE01D_DATA", str(REPO.parent / "shared" / "data"))
    return Path(base) / "lfw_view1"


def image_path(root: Path, name: str, number: str) -> Path:
    return root / "images" / name / f"{name}_{int(number):04d}.jpg"


def read_pairs(root: Path, which: str, limit: int | None) -> list[Pair]:
    """LFW's pairs format: a count N, N same-person lines, N different-person lines."""
    lines = (root / PAIR_FILES[which]).read_text().split("\n")
    count = int(lines[0].split()[-1])
    rows = [line.split() for line in lines[1 : 1 + 2 * count]]
    same = [Pair(image_path(root, r[0], r[1]), image_path(root, r[0], r[2]), True) for r in rows[:count]]
    different = [Pair(image_path(root, r[0], r[1]), image_path(root, r[2], r[3]), False) for r in rows[count:]]
    if limit is not None:  # keep the two kinds balanced
        same, different = same[: (limit + 1) // 2], different[: limit // 2]
    return same + different


def face01d_encoder() -> Encoder:
    """face01d's own path: load_image (OpenCV decode) → FaceAnalyzer detect → encode."""
    from face01d.config.models import DetectorConfig, DetectorKind
    from face01d.errors import ImageReadError
    from face01d.vision.analyzer import FaceAnalyzer
    from face01d.vision.image import load_image

    analyzer = FaceAnalyzer(DetectorConfig(kind=DetectorKind.HOG, upsampling=1), landmarks="small", jitters=1)

    def encode(path: Path) -> np.ndarray | None:
        try:
            rgb = load_image(path)
        except ImageReadError:
            return None
        detections = analyzer.detect(rgb, color="rgb")  # largest first
        return analyzer.encode(rgb, detections[:1], color="rgb")[0].encoding if detections else None

    return encode


def face_recognition_encoder() -> Encoder:
    """The reference: face_recognition's load_image_file (PIL) → face_locations → face_encodings."""
    import face_recognition

    def encode(path: Path) -> np.ndarray | None:
        if not path.exists():
            return None
        image = face_recognition.load_image_file(str(path))
        locations = face_recognition.face_locations(image, number_of_times_to_upsample=1, model="hog")
        if not locations:
            return None
        largest = max(locations, key=lambda box: (box[2] - box[0]) * (box[1] - box[3]))
        return face_recognition.face_encodings(image, [largest], num_jitters=1, model="small")[0]

    return encode


def encode_all(encoders: dict[str, Encoder], paths: list[Path]) -> tuple[dict[str, dict], dict[str, float]]:
    """Encode every image with every pipeline, alternating per image so that
    CPU contention from other processes weighs on both timings alike."""
    encodings: dict[str, dict[Path, np.ndarray | None]] = {name: {} for name in encoders}
    seconds = dict.fromkeys(encoders, 0.0)
    for path in paths:
        for name, encoder in encoders.items():
            started = time.perf_counter()
            encodings[name][path] = encoder(path)
            seconds[name] += time.perf_counter() - started
    return encodings, seconds


def score(name: str, pairs: list[Pair], encodings: dict[Path, np.ndarray | None], seconds: float, tolerance: float) -> Result:
    """Count correct verdicts; a pair with a missing face is wrong."""
    correct = {True: 0, False: 0}
    no_face_pairs = 0
    for pair in pairs:
        a, b = encodings[pair.first], encodings[pair.second]
        if a is None or b is None:
            no_face_pairs += 1
            continue
        correct[pair.same] += int((float(np.linalg.norm(a - b)) <= tolerance) == pair.same)
    missing = sorted(path.stem + ("" if path.exists() else " (file missing)") for path, e in encodings.items() if e is None)
    same = sum(p.same for p in pairs)
    return Result(name, correct[True], correct[False], same, len(pairs) - same, no_face_pairs, missing, seconds, len(encodings))


def print_result(result: Result) -> None:
    print(f"[{result.name}]")
    print(f"  pairs                  {result.same + result.different} ({result.same} same, {result.different} different)")
    print(f"  accuracy               {100 * result.accuracy:.2f} %")
    print(f"  same-person accuracy   {100 * result.correct_same / max(result.same, 1):.2f} %")
    print(f"  diff-person accuracy   {100 * result.correct_different / max(result.different, 1):.2f} %")
    print(f"  pairs with no face     {result.no_face_pairs} (counted as errors)")
    print(f"  images with no face    {len(result.no_face_images)}: {', '.join(result.no_face_images) or '-'}")
    print(f"  time                   {result.seconds:.1f} s for {result.images} images ({1000 * result.seconds / max(result.images, 1):.0f} ms/image)")


def encoding_agreement(ours: dict[Path, np.ndarray | None], theirs: dict[Path, np.ndarray | None]) -> str:
    """How far the two pipelines' encodings of the same image are apart."""
    gaps = [float(np.linalg.norm(ours[p] - theirs[p])) for p in ours if ours[p] is not None and theirs[p] is not None]
    if not gaps:
        return "no image with a face in both pipelines"
    return f"median {np.median(gaps):.4f}, max {max(gaps):.4f} over {len(gaps)} images"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", choices=sorted(PAIR_FILES), default="test")
    parser.add_argument("--limit", type=int, default=None, help="first N pairs, half same, half different")
    parser.add_argument("--tolerance", type=float, default=0.6)
    parser.add_argument("--data", default=None, help="the lfw_view1 folder")
    args = parser.parse_args()
    root = lfw_root(args.data)
    pairs = read_pairs(root, args.pairs, args.limit)
    paths = sorted({p.first for p in pairs} | {p.second for p in pairs})
    print(f"LFW View 1 {PAIR_FILES[args.pairs]}: {len(pairs)} pairs, {len(paths)} unique images, tolerance {args.tolerance}")
    encoders = {"face01d": face01d_encoder(), "face_recognition": face_recognition_encoder()}
    encodings, seconds = encode_all(encoders, paths)
    results = [score(name, pairs, encodings[name], seconds[name], args.tolerance) for name in encoders]
    for result in results:
        print_result(result)
    print(f"accuracy difference (face01d - face_recognition): {100 * (results[0].accuracy - results[1].accuracy):+.2f} points")
    print(f"encoding distance between pipelines, same image: {encoding_agreement(encodings['face01d'], encodings['face_recognition'])}")


if __name__ == "__main__":
    main()
