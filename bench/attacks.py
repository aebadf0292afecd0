"""Build a presentation-attack set: still photos held up to a camera, as clips.

    .venv/bin/python bench/attacks.py OUT_DIR [--lfw-people 20] [--seconds 4]

Every FACE01 gallery photo (../shared/data/face01/gallery/*.png) and the
first photo of ``--lfw-people`` LFW people (sorted by name, from
../shared/data/lfw_view1/images) become clips of a print or a phone held in
front of the camera: the still is placed on a sheet (a white margin) or a
screen (a black bezel, brighter), posed in 3-D and projected with a pinhole
camera, with smooth random drift, zoom, tilt and perspective (yaw and pitch),
in-plane roll, a hand's shake (4-9 Hz), a brightness change and, for the
"bend" style, a sheet that flexes (a cylinder whose curvature changes in
time, drawn as vertical strips). Frames are made with numpy/cv2 and encoded
by ffmpeg (libx264, yuv420p, 30 fps) at 1280×720 or 640×480. Each clip is
seeded from its name, so a rerun gives the same set. ``OUT_DIR/attacks.json``
lists the clips and how each was made. Never write the set into the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
STYLES = ("print", "phone", "bend")
SIZES = ((1280, 720), (640, 480))
FPS = 30


@dataclass(frozen=True)
class AttackSpec:
    """How one clip is made: the still, its carrier, the camera and the motion's seed."""

    name: str
    still: str  # path of the photo
    style: str  # print | phone | bend
    width: int
    height: int
    seconds: float
    seed: int
    face_fraction: float  # the carrier's height as a share of the frame's height


def _smooth(rng: np.random.Generator, t: np.ndarray, amplitude: float, low: float, high: float) -> np.ndarray:
    """A sum of three sinusoids of random frequency in [low, high] Hz: smooth hand motion."""
    out = np.zeros_like(t)
    for _ in range(3):
        out += np.sin(2 * np.pi * rng.uniform(low, high) * t + rng.uniform(0, 2 * np.pi))
    return amplitude * out / 3


def motion(spec: AttackSpec) -> dict[str, np.ndarray]:
    """Per-frame pose and light of the carrier: angles in radians, shifts in carrier heights."""
    rng = np.random.default_rng(spec.seed)
    t = np.arange(int(round(spec.seconds * FPS))) / FPS
    ramp = np.clip((t - rng.uniform(0.2, 0.6) * spec.seconds) / 0.8, 0, 1)  # a light change over 0.8 s
    return {
        "x": _smooth(rng, t, 0.25, 0.1, 0.5) + _smooth(rng, t, 0.006, 4, 9),
        "y": _smooth(rng, t, 0.15, 0.1, 0.5) + _smooth(rng, t, 0.006, 4, 9),
        "zoom": 1 + _smooth(rng, t, 0.12, 0.05, 0.3) + 0.15 * t / spec.seconds,
        "yaw": _smooth(rng, t, math.radians(25), 0.1, 0.6),
        "pitch": _smooth(rng, t, math.radians(20), 0.1, 0.6),
        "roll": _smooth(rng, t, math.radians(8), 0.1, 0.5) + _smooth(rng, t, math.radians(0.5), 4, 9),
        "gain": 1 + rng.choice([-0.35, 0.3]) * ramp,
        "bend": _smooth(rng, t, 1.0, 0.3, 1.2) if spec.style == "bend" else np.zeros_like(t),
    }


def carrier(still: np.ndarray, style: str) -> np.ndarray:
    """The photo on a white sheet (print, bend) or in a phone's black bezel, a little brighter."""
    h, w = still.shape[:2]
    if style == "phone":
        face = cv2.convertScaleAbs(still, alpha=1.1, beta=12)
        return cv2.copyMakeBorder(face, h // 6, h // 6, w // 14, w // 14, cv2.BORDER_CONSTANT, value=(12, 12, 12))
    return cv2.copyMakeBorder(still, h // 12, h // 12, w // 12, w // 12, cv2.BORDER_CONSTANT, value=(235, 238, 240))


def background(width: int, height: int, seed: int) -> np.ndarray:
    """A dim wall with soft blobs: a scene behind the hand, not a flat colour."""
    rng = np.random.default_rng(seed)
    tone = rng.uniform(70, 150) + rng.uniform(-15, 15, size=3)
    small = (tone + rng.uniform(-35, 35, size=(6, 8, 1))).astype(np.float32)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    cr, sr = math.cos(roll), math.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ rx @ ry


def _surface(u: np.ndarray, v: np.ndarray, bend: float) -> np.ndarray:
    """3-D points of the carrier (units of its height, centred) bent into a cylinder about v."""
    if abs(bend) < 1e-3:
        return np.stack([u, v, np.zeros_like(u)], axis=-1)
    radius = 1 / bend  # bend 1: a radius of one carrier height
    return np.stack([radius * np.sin(u / radius), v, radius * (1 - np.cos(u / radius))], axis=-1)


def _project(points: np.ndarray, pose: dict[str, float], frame: tuple[int, int], size: float) -> np.ndarray:
    """Pinhole projection of carrier points posed at ``pose`` (a 60° horizontal field of view)."""
    width, height = frame
    focal = width / (2 * math.tan(math.radians(30)))
    distance = focal / (size * pose["zoom"])  # carrier height ``size`` px at zoom 1
    p = points @ _rotation(pose["yaw"], pose["pitch"], pose["roll"]).T
    p = p + (0, 0, distance)
    x = focal * p[..., 0] / p[..., 2] + width / 2 + pose["x"] * size
    y = focal * p[..., 1] / p[..., 2] + height / 2 + pose["y"] * size
    return np.stack([x, y], axis=-1).astype(np.float32)


def render(card: np.ndarray, pose: dict[str, float], scene: np.ndarray, size: float, strips: int) -> np.ndarray:
    """The frame: the card drawn onto the scene in ``strips`` planar vertical strips."""
    out = scene.copy()
    h, w = card.shape[:2]
    edges = np.linspace(0, w, strips + 1)
    for x0, x1 in zip(edges[:-1], edges[1:]):
        corners_px = np.float32([[x0, 0], [x1, 0], [x1, h], [x0, h]])
        u, v = (corners_px[:, 0] - w / 2) / h, (corners_px[:, 1] - h / 2) / h
        image_pts = _project(_surface(u, v, pose["bend"]), pose, scene.shape[1::-1], size)
        _paste(out, card, corners_px, image_pts)
    return out


def _paste(out: np.ndarray, card: np.ndarray, src: np.ndarray, dst: np.ndarray) -> None:
    """Warp the quad ``src`` of ``card`` onto ``dst`` of ``out``, within dst's bounding box."""
    x0, y0 = np.floor(dst.min(0)).astype(int) - 1
    x1, y1 = np.ceil(dst.max(0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, out.shape[1]), min(y1, out.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    matrix = cv2.getPerspectiveTransform(src, dst - np.float32([x0, y0]))
    size = (x1 - x0, y1 - y0)
    warped = cv2.warpPerspective(card, matrix, size, flags=cv2.INTER_LINEAR)
    mask = np.zeros((size[1], size[0]), np.uint8)
    cv2.fillConvexPoly(mask, np.round(dst - np.float32([x0, y0])).astype(np.int32), 255)
    np.copyto(out[y0:y1, x0:x1], warped, where=(mask > 0)[..., None])


def frames(spec: AttackSpec) -> Iterator[np.ndarray]:
    """The clip's BGR frames, one per 1/30 s."""
    card = carrier(cv2.imread(spec.still, cv2.IMREAD_COLOR), spec.style)
    scene = background(spec.width, spec.height, spec.seed)
    path = motion(spec)
    noise = _noise(spec.height, spec.width, spec.seed + 1)
    size = spec.face_fraction * spec.height
    strips = 16 if spec.style == "bend" else 1
    for i in range(len(path["x"])):
        pose = {k: float(v[i]) for k, v in path.items()}
        frame = cv2.convertScaleAbs(render(card, pose, scene, size, strips), alpha=pose["gain"])
        up, down = noise[i % len(noise)]
        yield cv2.subtract(cv2.add(frame, up), down)


def _noise(height: int, width: int, seed: int, count: int = 3) -> list[tuple[np.ndarray, np.ndarray]]:
    """Sensor noise (σ ≈ 3 levels) as saturating add/subtract pairs, a few cycled: cheap per frame."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(count):
        n = rng.standard_normal((height, width, 3), dtype=np.float32) * 3
        pairs.append((np.maximum(n, 0).astype(np.uint8), np.maximum(-n, 0).astype(np.uint8)))
    return pairs


def encode(spec: AttackSpec, path: Path) -> None:
    """Write the clip with ffmpeg: raw BGR frames on stdin → H.264 MP4."""
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{spec.width}x{spec.height}",
           "-r", str(FPS), "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
           str(path)]
    with subprocess.Popen(cmd, stdin=subprocess.PIPE) as ffmpeg:
        assert ffmpeg.stdin is not None
        for frame in frames(spec):
            ffmpeg.stdin.write(frame.tobytes())
        ffmpeg.stdin.close()
        if ffmpeg.wait() != 0:
            raise RuntimeError(f"ffmpeg failed on {path}")


def _seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def spec_for(still: Path, style: str, index: int, seconds: float, salt: str = "") -> AttackSpec:
    """A clip of ``still`` in ``style``; the camera size alternates with ``index``; ``salt`` varies the motion."""
    width, height = SIZES[index % len(SIZES)]
    name = f"{still.stem}-{style}-{height}p{salt}"
    fraction = np.random.default_rng(_seed(name)).uniform(0.45, 0.75)
    return AttackSpec(name, str(still), style, width, height, seconds, _seed(name), round(float(fraction), 3))


def attack_specs(data: Path, lfw_people: int, seconds: float, lfw_skip: int = 0, salt: str = "") -> list[AttackSpec]:
    """Every gallery photo in every style, and one LFW photo per person in one style each."""
    gallery = sorted((data / "face01" / "gallery").glob("*.png"))
    people = sorted(p for p in (data / "lfw_view1" / "images").iterdir() if p.is_dir())[lfw_skip:lfw_skip + lfw_people]
    specs = [spec_for(photo, style, i + j, seconds, salt) for i, photo in enumerate(gallery)
             for j, style in enumerate(STYLES)]
    for i, person in enumerate(people):
        photo = sorted(person.glob("*.jpg"))[0]
        specs.append(spec_for(photo, STYLES[i % len(STYLES)], i, seconds, salt))
    return specs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the clips (outside the repository)")
    parser.add_argument("--lfw-people", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--lfw-skip", type=int, default=0, help="start at this LFW person (a second, held-out set)")
    parser.add_argument("--salt", default="", help="appended to each clip's name: other motions, same stills")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    if args.out.resolve().is_relative_to(REPO):
        parser.error("write the attack set outside the repository")
    args.out.mkdir(parents=True, exist_ok=True)
    specs = attack_specs(args.data, args.lfw_people, args.seconds, args.lfw_skip, args.salt)
    for spec in specs:
        encode(spec, args.out / f"{spec.name}.mp4")
        print(spec.name, file=sys.stderr)
    manifest = [{"clip": f"{s.name}.mp4", **asdict(s)} for s in specs]
    (args.out / "attacks.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
