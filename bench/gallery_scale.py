"""Row 5: match time per face against large galleries of synthetic identities.

Random unit 128-D vectors, one per identity, in a ``face01d.gallery.model.Gallery``;
``face01d.gallery.matching.Matcher`` is timed on one probe face per call (one
face in a frame), the probe a noisy copy of a gallery vector. ``Matcher.votes``
(nearest and runner-up identity) is timed when it exists, else ``match``.

    .venv/bin/python bench/gallery_scale.py [--sizes 1000,10000,100000] [--seconds 1.0]

Prints one JSON line: the method timed and, per size, median and p90 ms per face.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from face01d.gallery.matching import Matcher
from face01d.gallery.model import Gallery

TOLERANCE = 0.6
MIN_CALLS = 20


def unit_vectors(count: int, rng: np.random.Generator) -> np.ndarray:
    vectors = rng.standard_normal((count, 128))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def synthetic_gallery(size: int, rng: np.random.Generator) -> Gallery:
    names = tuple(f"person{i:06d}" for i in range(size))
    return Gallery(unit_vectors(size, rng), names, tuple(Path(f"{name}.png") for name in names))


def probe_near(gallery: Gallery, rng: np.random.Generator) -> np.ndarray:
    """A face that is someone: a gallery vector moved by a same-person distance (~0.4)."""
    row = gallery.encodings[rng.integers(len(gallery))]
    noisy = row + unit_vectors(1, rng)[0] * 0.4
    return (noisy / np.linalg.norm(noisy)).reshape(1, 128)


def time_calls(call, seconds: float) -> list[float]:
    """Milliseconds per call, for at least MIN_CALLS calls and ``seconds`` seconds."""
    call()  # first call outside the timing
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(samples) < MIN_CALLS or time.perf_counter() < deadline:
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def measure(size: int, seconds: float, rng: np.random.Generator) -> dict[str, object]:
    matcher = Matcher(synthetic_gallery(size, rng), TOLERANCE)
    method = "votes" if callable(getattr(matcher, "votes", None)) else "match"
    probes = [probe_near(matcher.gallery, rng) for _ in range(16)]
    counter = iter(range(10**9))
    samples = time_calls(lambda: getattr(matcher, method)(probes[next(counter) % len(probes)]), seconds)
    ordered = sorted(samples)
    return {"method": method, "calls": len(samples), "ms_median": float(np.median(samples)),
            "ms_p90": ordered[int(0.9 * (len(ordered) - 1))], "ms_min": ordered[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--seconds", type=float, default=1.0, help="time each size for at least this long")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    sizes = {int(size): measure(int(size), args.seconds, rng) for size in args.sizes.split(",")}
    print(json.dumps({"sizes": sizes, "method": next(iter(sizes.values()))["method"]}))


if __name__ == "__main__":
    main()
