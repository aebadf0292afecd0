"""Tracks: association, confirmation, prediction between detections, ends. Time comes from the arguments."""

from __future__ import annotations

from face01d.config.models import TrackingConfig
from face01d.faces import Detection, FaceBox
from face01d.tracking import FaceTracker, TrackPhase
from face01d.tracking.associate import associate, centre_distance, iou

CONFIG = TrackingConfig(confirm_hits=2, max_absence_s=1.0, min_iou=0.3)


def face(left: int, top: int = 100, size: int = 100, score: float = 0.9) -> Detection:
    return Detection(FaceBox(top, left + size, top + size, left), score, sharpness=100.0)


def tracker(config: TrackingConfig = CONFIG) -> FaceTracker:
    return FaceTracker(config, "door")


def test_iou_and_centre_distance():
    a, b = FaceBox(0, 100, 100, 0), FaceBox(0, 150, 100, 50)
    assert iou(a, a) == 1.0 and iou(a, FaceBox(200, 300, 300, 200)) == 0.0
    assert abs(iou(a, b) - 5000 / 15000) < 1e-9
    assert centre_distance(a, b) == 0.5


def test_association_prefers_the_best_overlap_and_leaves_the_rest():
    tracks = [FaceBox(0, 100, 100, 0), FaceBox(0, 400, 100, 300)]
    detections = [FaceBox(0, 410, 100, 310), FaceBox(0, 105, 100, 5), FaceBox(500, 600, 600, 500)]
    pairs, lost, new = associate(tracks, detections, 0.3)
    assert sorted(pairs) == [(0, 1), (1, 0)] and lost == [] and new == [2]


def test_a_face_that_jumped_is_still_matched_by_its_centre():
    pairs, _, _ = associate([FaceBox(0, 100, 100, 0)], [FaceBox(0, 140, 100, 40)], 0.5)  # IoU 0.43, centre 0.4
    assert pairs == [(0, 0)]
    pairs, _, new = associate([FaceBox(0, 100, 100, 0)], [FaceBox(0, 170, 100, 70)], 0.5)  # too far
    assert pairs == [] and new == [0]


def test_sparse_frames_widen_the_centre_gate():
    faces = tracker()
    faces.update([face(100)], 0.0, 0, 0.0)
    assert len(faces.update([face(200)], 1.0, 30, 1.0).seen) == 1 and len(faces.tracks) == 1  # a width in 1 s
    assert faces.tracks[0].hits == 2
    faces.update([face(400)], 1.033, 31, 1.033)  # two widths in one frame: someone else
    assert len(faces.tracks) == 2


def test_a_track_is_tentative_then_confirmed_and_keeps_its_id():
    faces = tracker()
    first = faces.update([face(100)], 0.0, 0, 0.0)
    assert first.confirmed == [] and first.seen == []
    [track] = faces.tracks
    assert track.phase is TrackPhase.TENTATIVE
    second = faces.update([face(105)], 0.033, 1, 0.033)
    assert second.confirmed == [track] and second.seen == [track] and track.confirmed
    third = faces.update([face(110)], 0.066, 2, 0.066)
    assert third.confirmed == [] and third.seen == [track] and track.hits == 3


def test_two_faces_get_two_tracks_with_distinct_ids():
    faces = tracker()
    for t in range(3):
        faces.update([face(100 + t), face(600 - t)], t * 0.033, t, t * 0.033)
    ids = [t.id for t in faces.tracks]
    assert len(ids) == 2 and len(set(ids)) == 2 and all(i.startswith("door-") for i in ids)


def test_between_detections_the_box_moves_with_the_velocity():
    faces = tracker()
    faces.update([face(100)], 0.0, 0, 0.0)
    faces.update([face(110)], 0.1, 1, 0.1)  # 100 px/s to the right
    faces.predict(0.2)
    [track] = faces.tracks
    assert track.box.left == 120 and track.look.box.left == 110  # predicted box; the look stays the detection
    assert faces.update([face(131)], 0.3, 3, 0.3).seen == [track]  # found where it was going


def test_an_absent_confirmed_track_ends_and_a_tentative_one_vanishes():
    faces = tracker()
    faces.update([face(100)], 0.0, 0, 0.0)
    faces.update([face(100)], 0.1, 1, 0.1)
    faces.update([face(100), face(700)], 0.2, 2, 0.2)  # a second, tentative face
    assert faces.predict(5.0).ended == []  # only a detection can tell a face is gone
    assert faces.update([], 1.05, 3, 1.05).ended == []  # one miss, and not yet max_absence_s
    ended = faces.update([], 1.2, 4, 1.2).ended
    assert [t.phase for t in ended] == [TrackPhase.ENDED] and ended[0].look.box.left == 100
    assert faces.tracks == []


def test_sparse_detections_do_not_end_a_track_that_is_still_there():
    faces = tracker()  # max_absence_s = 1.0, yet detections come 1.5 s apart (frame_skip, slow HOG)
    for t in range(4):
        assert faces.update([face(100)], t * 1.5, t, t * 1.5).ended == []
    assert len(faces.tracks) == 1 and faces.tracks[0].hits == 4


def test_a_silent_camera_expires_its_tracks_by_the_clock():
    faces = tracker()
    faces.update([face(100)], 0.0, 0, 0.0)
    faces.update([face(100)], 0.1, 1, 0.1)
    assert faces.expire(1.0) == [] and len(faces.expire(1.2)) == 1


def test_end_all_ends_confirmed_tracks_only():
    faces = tracker()
    faces.update([face(100)], 0.0, 0, 0.0)
    faces.update([face(100), face(700)], 0.1, 1, 0.1)
    assert len(faces.end_all()) == 1 and faces.tracks == []


def test_confirm_hits_one_confirms_at_first_sight():
    faces = tracker(TrackingConfig(confirm_hits=1))
    update = faces.update([face(100)], 0.0, 0, 0.0)
    assert len(update.confirmed) == 1 and update.seen == update.confirmed


def test_a_clock_stepped_back_ends_tracks_instead_of_keeping_them_forever():
    faces = tracker()
    faces.update([face(100)], 1000.0, 0, 0.0)
    faces.update([face(100)], 1000.1, 1, 0.1)
    assert faces.update([], 10.0, 2, 0.2).ended == []  # one miss
    assert len(faces.update([], 10.1, 3, 0.3).ended) == 1
