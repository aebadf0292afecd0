"""Which detection continues which track: greedy matching on overlap, then on distance.

Faces per frame are few (max_faces ≤ 100, usually 1-3), so a greedy pass
over pairs sorted by score matches what the Hungarian method would give in
practice, at a fraction of the code. A face that moved more than its boxes
overlap (a fast turn, a dropped frame) is still matched when its centre
stayed within half a face width of the predicted one (more when the
frames are sparse: a face may move a face width in a second).
"""

from __future__ import annotations

from collections.abc import Sequence

from face01d.faces import FaceBox

CENTRE_GATE = 0.5  # centres this close (in face widths) still match when boxes barely overlap ...
CENTRE_GATE_PER_S = 1.0  # ... plus this much per second since the track was last detected (sparse frames)


def centre_gate(elapsed_s: float) -> float:
    """How far (in face widths) a face may have moved since its track was last detected."""
    return CENTRE_GATE + CENTRE_GATE_PER_S * max(elapsed_s, 0.0)


def iou(a: FaceBox, b: FaceBox) -> float:
    """Intersection over union of two boxes (0 when they do not touch)."""
    inter_w = min(a.right, b.right) - max(a.left, b.left)
    inter_h = min(a.bottom, b.bottom) - max(a.top, b.top)
    if inter_w <= 0 or inter_h <= 0:
        return 0.0
    inter = inter_w * inter_h
    return inter / float(a.area + b.area - inter)


def centre_distance(a: FaceBox, b: FaceBox) -> float:
    """Distance between the centres, in widths of the larger box."""
    dx = (a.left + a.right - b.left - b.right) / 2
    dy = (a.top + a.bottom - b.top - b.bottom) / 2
    return (dx * dx + dy * dy) ** 0.5 / max(a.width, b.width, 1)


def pair_score(track: FaceBox, detection: FaceBox, min_iou: float, gate: float = CENTRE_GATE) -> float:
    """How well a detection continues a track: IoU if enough, else a small score for a near centre, else 0."""
    overlap = iou(track, detection)
    if overlap >= min_iou:
        return overlap
    distance = centre_distance(track, detection)
    return (gate - distance) * min_iou / gate if distance < gate else 0.0


def associate(
    tracks: Sequence[FaceBox], detections: Sequence[FaceBox], min_iou: float, gates: Sequence[float] | None = None
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pairs (track index, detection index), then unmatched tracks and unmatched detections.

    ``gates`` gives each track's centre gate (``centre_gate`` of the time since it was last detected).
    """
    gates = gates if gates is not None else [CENTRE_GATE] * len(tracks)
    scored = [
        (score, t, d)
        for t, track in enumerate(tracks)
        for d, detection in enumerate(detections)
        if (score := pair_score(track, detection, min_iou, gates[t])) > 0
    ]
    scored.sort(reverse=True)
    pairs: list[tuple[int, int]] = []
    used_tracks: set[int] = set()
    used_detections: set[int] = set()
    for _score, t, d in scored:
        if t not in used_tracks and d not in used_detections:
            pairs.append((t, d))
            used_tracks.add(t)
            used_detections.add(d)
    lost = [t for t in range(len(tracks)) if t not in used_tracks]
    new = [d for d in range(len(detections)) if d not in used_detections]
    return pairs, lost, new
