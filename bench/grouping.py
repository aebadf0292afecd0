"""Unknown faces grouped: purity and groups per person on LFW, and the page's response time.

    .venv/bin/python bench/grouping.py [--sweep] [--fresh]

LFW View 1 people who are in no gallery become kept ``unknown`` crops, in the
format face01d/enrollment/unknown.py writes (``<event id>.jpg`` + ``.json``):
every person with at least MIN_PHOTOS photos (at most MAX_PHOTOS each), plus
SINGLETONS people with one photo as passers-by who must not join anybody's
group. ``UnknownGroups.groups()`` encodes and groups them exactly as the page
and ``face01d unknown groups`` do. Measured:

- purity: the crops of each group that are its main person, over all crops
  with a face (target ≥ 95 %: a wrong merge puts a stranger into a gallery);
- groups per person: over the people with several photos, how many groups
  their crops fall into (target ≤ 1.5: one "This is …" per person, or two);
- response time: ``groups()`` over 1,000 kept crops with a warm encoding
  cache, against a gallery of 1,000 encodings; the page's first view (a new
  ``UnknownGroups``, cache read from disk) and a later view (cache in memory).

The crops and their encoding cache stay under .cache/bench/grouping/ (git-
ignored): the first run encodes 1,740 crops (~5 minutes on an idle core), later runs take
seconds. ``--sweep`` prints purity and groups per person for each linkage
and threshold (how GROUP_DISTANCE was chosen). The last stdout line is the
JSON result.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import shutil
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from face01d.config.models import GalleryConfig  # noqa: E402
from face01d.enrollment.clustering import GROUP_DISTANCE, LINKAGE, cluster  # noqa: E402
from face01d.enrollment.crop_cache import CACHE_NAME, load_cache  # noqa: E402
from face01d.enrollment.groups import UnknownGroup, UnknownGroups, gallery_recognises  # noqa: E402
from face01d.events.model import utc_iso  # noqa: E402
from face01d.gallery.model import Gallery  # noqa: E402
from face01d.recognition.recognizer import gallery_settings_key  # noqa: E402

CACHE = REPO / ".cache" / "bench" / "grouping"
MIN_PHOTOS, MAX_PHOTOS, SINGLETONS = 3, 8, 200
VIEW_CROPS = 1000  # kept crops behind the timed page view
GALLERY_SIZE = 1000  # encodings the timed view checks the crops against
TIMED_VIEWS = 5
START = 1_780_000_000.0  # the first synthetic sighting (epoch seconds)
SWEEP = {"average": (0.40, 0.44, 0.46, 0.48, 0.50, 0.52, 0.54, 0.56, 0.60),
         "complete": (0.50, 0.55, 0.60, 0.65, 0.70),
         "single": (0.35, 0.40, 0.45, 0.50)}
PURITY_TARGET, GROUPS_TARGET, RESPONSE_TARGET_MS = 95.0, 1.5, 1000.0


def data_root() -> Path:
    import os  # noqa: PLC0415

    return Path(os.environ.get("FACE01D_DATA", REPO.parent / "shared" / "data"))


def pick_photos(images: Path) -> list[Path]:
    """People with several photos (up to MAX_PHOTOS each) and SINGLETONS one-photo people, sorted."""
    people = sorted(folder for folder in images.iterdir() if folder.is_dir())
    several, single = [], []
    for folder in people:
        photos = sorted(folder.glob("*.jpg"))
        if len(photos) >= MIN_PHOTOS:
            several += photos[:MAX_PHOTOS]
        elif len(photos) == 1:
            single.append(photos[0])
    return several + single[:: max(1, len(single) // SINGLETONS)][:SINGLETONS]


def event_id(photo: Path) -> str:
    return hashlib.sha1(f"{photo.parent.name}/{photo.name}".encode()).hexdigest()[:32]


def lay_crops(photos: list[Path], folder: Path) -> dict[str, str]:
    """Each photo as a kept crop with its event record; event id → person. Copies keep their mtime,
    so the encoding cache stays valid from one run to the next."""
    folder.mkdir(parents=True, exist_ok=True)
    person_of = {}
    for index, photo in enumerate(photos):
        ident = event_id(photo)
        person_of[ident] = photo.parent.name
        crop = folder / f"{ident}.jpg"
        if not crop.exists():
            shutil.copy2(photo, crop)
        seen = START + 86400.0 * int(photo.stem.rsplit("_", 1)[-1]) + index  # photo n: day n
        record = {"id": ident, "type": "unknown", "camera": "bench", "name": "Unknown", "captured_at": utc_iso(seen)}
        (folder / f"{ident}.json").write_text(json.dumps(record))
    return person_of


def scores(labels: dict[str, int], person_of: dict[str, str]) -> tuple[float, float, int]:
    """(purity %, groups per person with several photos, groups) of a labelling of event ids."""
    members: dict[int, list[str]] = defaultdict(list)
    for ident, label in labels.items():
        members[label].append(person_of[ident])
    pure = sum(Counter(people).most_common(1)[0][1] for people in members.values())
    spread: dict[str, set[int]] = defaultdict(set)
    for ident, label in labels.items():
        spread[person_of[ident]].add(label)
    photos = Counter(person_of.values())
    several = [len(groups) for person, groups in spread.items() if photos[person] >= MIN_PHOTOS]
    return 100.0 * pure / max(1, len(labels)), statistics.fmean(several) if several else 0.0, len(members)


def group_labels(groups: list[UnknownGroup]) -> dict[str, int]:
    """Event id → group index, for the crops with a face."""
    return {crop.event_id: index for index, group in enumerate(groups) for crop in group.crops
            if crop.encoding is not None}


def sweep(folder: Path, gallery: GalleryConfig, person_of: dict[str, str]) -> list[dict[str, object]]:
    """Purity and groups per person for each linkage and threshold, from the cached encodings."""
    records = [r for r in load_cache(folder, gallery_settings_key(gallery)).values() if r.encoding is not None]
    encodings = np.array([r.encoding for r in records])
    rows = []
    for method, thresholds in SWEEP.items():
        for threshold in thresholds:
            labels = dict(zip((r.event_id for r in records), cluster(encodings, threshold, method).tolist()))
            purity, per_person, groups = scores(labels, person_of)
            rows.append({"linkage": method, "threshold": threshold, "purity_pct": round(purity, 2),
                         "groups_per_person": round(per_person, 3), "groups": groups})
            print(f"  {method:8} {threshold:.2f}: purity {purity:6.2f} %, groups per person {per_person:.2f}, "
                  f"{groups} groups")
    return rows


def timed_view(folder: Path, gallery: GalleryConfig, person_of: dict[str, str]) -> dict[str, float]:
    """``groups()`` over VIEW_CROPS kept crops (encoding cache on disk): first and later views, ms."""
    view = CACHE / "view"
    shutil.rmtree(view, ignore_errors=True)
    view.mkdir(parents=True)
    for ident in sorted(person_of)[:VIEW_CROPS]:
        for suffix in (".jpg", ".json"):
            shutil.copy2(folder / f"{ident}{suffix}", view / f"{ident}{suffix}")
    shutil.copy2(folder / CACHE_NAME, view / CACHE_NAME)
    rng = np.random.default_rng(15)
    people = rng.normal(size=(GALLERY_SIZE, 128)) * 0.1  # nobody's face: only the matching cost counts
    known = Gallery(people, tuple(f"p{i:04d}" for i in range(GALLERY_SIZE)),
                    tuple(Path(f"p{i:04d}.jpg") for i in range(GALLERY_SIZE)))
    first, later = [], []
    for _ in range(TIMED_VIEWS):
        groups = UnknownGroups(view, gallery, gallery_recognises(lambda: known, 0.6))
        started = time.perf_counter()
        shown = groups.groups()
        first.append(1000.0 * (time.perf_counter() - started))
        started = time.perf_counter()
        groups.groups()
        later.append(1000.0 * (time.perf_counter() - started))
    crops = sum(group.size for group in shown)
    return {"crops": crops, "groups": len(shown), "first_view_ms": round(statistics.median(first), 1),
            "later_view_ms": round(statistics.median(later), 1)}


def measure(args: argparse.Namespace) -> dict[str, object]:
    images = data_root() / "lfw_view1" / "images"
    folder = CACHE / "unknown"
    if args.fresh:
        shutil.rmtree(folder, ignore_errors=True)
    gallery = GalleryConfig(path=CACHE / "no-gallery")
    warm = (folder / CACHE_NAME).exists()
    person_of = lay_crops(pick_photos(images), folder)
    started = time.perf_counter()
    groups = UnknownGroups(folder, gallery).groups()
    encode_s = time.perf_counter() - started
    labels = group_labels(groups)
    purity, per_person, count = scores(labels, person_of)
    several = {p for p, n in Counter(person_of.values()).items() if n >= MIN_PHOTOS}
    result: dict[str, object] = {
        "purity_pct": round(purity, 2), "groups_per_person": round(per_person, 3),
        "threshold": GROUP_DISTANCE, "linkage": LINKAGE, "people": len(several), "min_photos": MIN_PHOTOS,
        "singletons": len(set(person_of.values())) - len(several), "crops": len(person_of),
        "crops_with_face": len(labels), "groups": count, "cache_warm": warm, "groups_s": round(encode_s, 1),
        "view": timed_view(folder, gallery, person_of),
    }
    if args.sweep:
        result["sweep"] = sweep(folder, gallery, person_of)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sweep", action="store_true", help="also score each linkage and threshold")
    parser.add_argument("--fresh", action="store_true", help="lay out and encode the crops again")
    args = parser.parse_args()
    with contextlib.redirect_stdout(sys.stderr):  # progress lines; stdout's last line is the JSON
        result = measure(args)
    print(json.dumps(result, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
