"""LFW View 1 pair accuracy: face01d's HOG and mediapipe pipelines, and face_recognition's.

All pipelines use the same dlib models after detection (5-point alignment,
128-D ResNet) and the same tolerance. face01d (HOG) uses the same detector as
face_recognition (HOG, one upsampling pass), so it must not score lower: a gap
points at a bug in colour order, resizing or alignment. face01d (mediapipe)
detects with BlazeFace and maps its box to dlib's framing; it must stay within
0.5 points of face01d (HOG). Each unique image is encoded once per pipeline. A
pair where a face is missing in either image counts as an error (never dropped).

Encodings are cached per pipeline under .cache/bench/ (keyed by the
pipeline's settings, the box mapping and the library versions), so a second
run only scores; --fresh ignores the cache.

    .venv/bin/python bench/lfw_accuracy.py [--pairs test|train] [--limit N] [--no-reference] [--fresh]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    from face01d.config.models import DetectorConfig

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "bench"
PAIR_FILES = {"test": "pairsDevTest.txt", "train": "pairsDevTrain.txt"}
HOG, MEDIAPIPE, REFERENCE = "face01d (HOG)", "face01d (mediapipe)", "face_recognition"
MAX_GAP_POINTS = 0.5  # mediapipe's accuracy may trail HOG's by at most this

Encode = Callable[[Path], "np.ndarray | None"]


@dataclass(frozen=True)
class Encoder:
    """A pipeline: its encode function and what its cached encodings depend on."""

    encode: Encode
    fingerprint: str


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
    cached: int = 0

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


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def face01d_encoder(detector: DetectorConfig) -> Encoder:
    """face01d's own path: load_image (OpenCV decode) → FaceAnalyzer detect → largest face → encode."""
    from face01d.errors import ImageReadError
    from face01d.vision.analyzer import FaceAnalyzer
    from face01d.vision.image import load_image

    analyzer = FaceAnalyzer(detector, landmarks="small", jitters=1)

    def encode(path: Path) -> np.ndarray | None:
        try:
            rgb = load_image(path)
        except ImageReadError:
            return None
        detections = analyzer.detect(rgb, color="rgb")  # largest first
        return analyzer.encode(rgb, detections[:1], color="rgb")[0].encoding if detections else None

    mapping = getattr(analyzer.detector, "calibration", None)  # mediapipe's box mapping
    return Encoder(encode, _fingerprint(detector, mapping, version("dlib-bin"), version("mediapipe")))


def face01d_encoders(mediapipe_model: str) -> dict[str, Encoder]:
    from face01d.config.models import DetectorConfig, DetectorKind

    return {
        HOG: face01d_encoder(DetectorConfig(kind=DetectorKind.HOG, upsampling=1)),
        MEDIAPIPE: face01d_encoder(DetectorConfig(kind=DetectorKind.MEDIAPIPE, mediapipe_model=mediapipe_model)),
    }


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

    return Encoder(encode, _fingerprint("face_recognition", version("face_recognition"), version("dlib-bin")))


class EncodingCache:
    """One pipeline's encodings (NaN: no face) and seconds per image, in .cache/bench/.

    ``fresh``: start empty (what is encoded then replaces the file)."""

    def __init__(self, name: str, fingerprint: str, root: Path, fresh: bool) -> None:
        slug = "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split())
        self.file = CACHE / f"lfw-{slug}-{fingerprint}.npz"
        self.root = root
        self.entries: dict[str, tuple[np.ndarray, float]] = {}
        if not fresh and self.file.exists():
            with np.load(self.file, allow_pickle=False) as saved:
                rows = zip(saved["keys"], saved["encodings"], saved["seconds"])
                self.entries = {str(k): (e, float(t)) for k, e, t in rows}

    def get(self, path: Path) -> tuple[np.ndarray | None, float] | None:
        entry = self.entries.get(self._key(path))
        if entry is None:
            return None
        return (None if np.isnan(entry[0]).any() else entry[0]), entry[1]

    def put(self, path: Path, encoding: np.ndarray | None, seconds: float) -> None:
        self.entries[self._key(path)] = (np.full(128, np.nan) if encoding is None else encoding, seconds)

    def save(self) -> None:
        if not self.entries:
            return
        CACHE.mkdir(parents=True, exist_ok=True)
        keys = sorted(self.entries)
        np.savez(
            self.file,
            keys=np.array(keys),
            encodings=np.array([self.entries[k][0] for k in keys]),
            seconds=np.array([self.entries[k][1] for k in keys]),
        )

    def _key(self, path: Path) -> str:
        return str(path.relative_to(self.root)) if path.is_relative_to(self.root) else str(path)


@dataclass
class Encoded:
    """One pipeline's encodings of every image, with its encoding time."""

    encodings: dict[Path, np.ndarray | None]
    seconds: float = 0.0
    cached: int = 0


def encode_all(encoders: dict[str, Encoder], paths: list[Path], root: Path, fresh: bool) -> dict[str, Encoded]:
    """Encode every image with every pipeline, alternating per image so that
    CPU contention from other processes weighs on all timings alike; images
    already in a pipeline's cache are taken from it (with their timing)."""
    caches = {name: EncodingCache(name, e.fingerprint, root, fresh) for name, e in encoders.items()}
    out = {name: Encoded({}) for name in encoders}
    for path in paths:
        for name, encoder in encoders.items():
            hit = caches[name].get(path)
            if hit is None:
                started = time.perf_counter()
                hit = encoder.encode(path), time.perf_counter() - started
                caches[name].put(path, *hit)
            else:
                out[name].cached += 1
            out[name].encodings[path] = hit[0]
            out[name].seconds += hit[1]
    for cache in caches.values():
        cache.save()
    return out


def score(name: str, pairs: list[Pair], encoded: Encoded, tolerance: float) -> Result:
    """Count correct verdicts; a pair with a missing face is wrong."""
    encodings = encoded.encodings
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
    return Result(
        name, correct[True], correct[False], same, len(pairs) - same, no_face_pairs, missing,
        encoded.seconds, len(encodings), encoded.cached,
    )


def print_result(result: Result) -> None:
    cached = f", {result.cached} of them timed in an earlier run (cache)" if result.cached else ""
    print(f"[{result.name}]")
    print(f"  pairs                  {result.same + result.different} ({result.same} same, {result.different} different)")
    print(f"  accuracy               {100 * result.accuracy:.2f} %")
    print(f"  same-person accuracy   {100 * result.correct_same / max(result.same, 1):.2f} %")
    print(f"  diff-person accuracy   {100 * result.correct_different / max(result.different, 1):.2f} %")
    print(f"  pairs with no face     {result.no_face_pairs} (counted as errors)")
    print(f"  images with no face    {len(result.no_face_images)}: {', '.join(result.no_face_images) or '-'}")
    print(f"  time                   {result.seconds:.1f} s for {result.images} images "
          f"({1000 * result.seconds / max(result.images, 1):.0f} ms/image{cached})")


def encoding_agreement(ours: dict[Path, np.ndarray | None], theirs: dict[Path, np.ndarray | None]) -> str:
    """How far two pipelines' encodings of the same image are apart."""
    gaps = [float(np.linalg.norm(ours[p] - theirs[p])) for p in ours if ours[p] is not None and theirs[p] is not None]
    if not gaps:
        return "no image with a face in both pipelines"
    return f"median {np.median(gaps):.4f}, mean {np.mean(gaps):.4f}, max {max(gaps):.4f} over {len(gaps)} images"


def found_by_all(pairs: list[Pair], encoded: dict[str, Encoded]) -> list[Pair]:
    """The pairs where every pipeline found a face in both images."""
    return [p for p in pairs if all(e.encodings[p.first] is not None and e.encodings[p.second] is not None
                                    for e in encoded.values())]


def print_comparisons(
    results: dict[str, Result], encoded: dict[str, Encoded], pairs: list[Pair], tolerance: float
) -> None:
    gap = 100 * (results[MEDIAPIPE].accuracy - results[HOG].accuracy)
    verdict = "within" if gap >= -MAX_GAP_POINTS else "NOT within"
    print(f"accuracy difference (mediapipe - HOG): {gap:+.2f} points: {verdict} the target "
          f"(at most {MAX_GAP_POINTS} points below HOG)")
    common = found_by_all(pairs, encoded)
    on_common = {name: score(name, common, encoded[name], tolerance).accuracy for name in (MEDIAPIPE, HOG)}
    print(f"  on the {len(common)} pairs where every pipeline found both faces: mediapipe "
          f"{100 * on_common[MEDIAPIPE]:.2f} %, HOG {100 * on_common[HOG]:.2f} % "
          f"({100 * (on_common[MEDIAPIPE] - on_common[HOG]):+.2f} points)")
    agreement = encoding_agreement(encoded[MEDIAPIPE].encodings, encoded[HOG].encodings)
    print(f"encoding distance mediapipe vs HOG, same image: {agreement}")
    if REFERENCE in results:
        gap = 100 * (results[HOG].accuracy - results[REFERENCE].accuracy)
        print(f"accuracy difference (face01d HOG - face_recognition): {gap:+.2f} points")
        agreement = encoding_agreement(encoded[HOG].encodings, encoded[REFERENCE].encodings)
        print(f"encoding distance face01d HOG vs face_recognition, same image: {agreement}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", choices=sorted(PAIR_FILES), default="test")
    parser.add_argument("--limit", type=int, default=None, help="first N pairs, half same, half different")
    parser.add_argument("--tolerance", type=float, default=0.6)
    parser.add_argument("--data", default=None, help="the lfw_view1 folder")
    parser.add_argument("--mediapipe-model", choices=["short", "full"], default="short")
    parser.add_argument("--no-reference", action="store_true", help="skip face_recognition's pipeline")
    parser.add_argument("--fresh", action="store_true", help="encode everything again (then cached anew)")
    args = parser.parse_args()
    root = lfw_root(args.data)
    pairs = read_pairs(root, args.pairs, args.limit)
    paths = sorted({p.first for p in pairs} | {p.second for p in pairs})
    print(f"LFW View 1 {PAIR_FILES[args.pairs]}: {len(pairs)} pairs, {len(paths)} unique images, "
          f"tolerance {args.tolerance}, mediapipe model {args.mediapipe_model!r}")
    encoders = face01d_encoders(args.mediapipe_model)
    if not args.no_reference:
        encoders[REFERENCE] = face_recognition_encoder()
    encoded = encode_all(encoders, paths, root, fresh=args.fresh)
    results = {name: score(name, pairs, encoded[name], args.tolerance) for name in encoders}
    for result in results.values():
        print_result(result)
    print_comparisons(results, encoded, pairs, args.tolerance)


if __name__ == "__main__":
    main()
