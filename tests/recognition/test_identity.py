"""When a track asks for a look, and how its verdict moves (pending → known / unknown)."""

from __future__ import annotations

import numpy as np

from face01d.config.models import TrackingConfig
from face01d.faces import UNKNOWN, Detection, EncodedFace, FaceBox, Vote
from face01d.recognition.decision import TrackState
from face01d.recognition.identity import TrackIdentity, policy_from
from face01d.tracking import FaceTracker, Track

CONFIG = TrackingConfig(confirm_hits=2, votes_needed=2, vote_window=3, margin=0.05, decision_deadline_s=1.0,
                        reencode_s=1.0, better_view=1.5)
POLICY = policy_from(CONFIG, tolerance=0.45)
ENCODED = EncodedFace(np.zeros(128), yaw=0.0)


def confirmed_track(size: int = 100) -> Track:
    faces = FaceTracker(CONFIG, "door")
    box = Detection(FaceBox(100, 100 + size, 100 + size, 100), 0.9, 100.0)
    faces.update([box], 0.0, 0, 0.0)
    faces.update([box], 0.1, 1, 0.1)
    [track] = faces.tracks
    return track


def vote(name: str, distance: float, runner_up: float = 0.8) -> Vote:
    return Vote(name, distance, runner_up)


def test_a_pending_track_wants_a_look_unless_one_is_in_flight():
    identity = TrackIdentity(confirmed_track(), CONFIG.vote_window)
    assert identity.wants_look(CONFIG)
    identity.in_flight = True
    assert not identity.wants_look(CONFIG)


def test_k_agreeing_looks_make_it_known_and_it_stops_looking():
    identity = TrackIdentity(confirmed_track(), CONFIG.vote_window)
    identity.add_look(identity.track.look, ENCODED, vote("obama", 0.35))
    assert not identity.decide(POLICY, 0.2, CONFIG.decision_deadline_s)
    identity.add_look(identity.track.look, ENCODED, vote("obama", 0.38))
    assert identity.decide(POLICY, 0.3, CONFIG.decision_deadline_s)
    who = identity.identification(identity.track.look, (640, 480), now_mono=0.5)
    assert (who.name, who.votes, who.latency_ms) == ("obama", 2, 500.0)  # from the first frame, read at 0.0
    assert who.encoding is not None and not identity.wants_look(CONFIG)
    assert not identity.decide(POLICY, 0.4, CONFIG.decision_deadline_s)  # announced once


def test_a_rejected_look_does_not_vote():
    identity = TrackIdentity(confirmed_track(), CONFIG.vote_window)
    identity.add_look(identity.track.look, ENCODED, None)
    assert (identity.looks, identity.rejected, len(identity.votes)) == (1, 1, 0)


def test_the_deadline_makes_a_pending_track_unknown_then_a_better_view_is_looked_at():
    identity = TrackIdentity(confirmed_track(), CONFIG.vote_window)
    identity.add_look(identity.track.look, ENCODED, vote("obama", 0.55))
    assert not identity.decide(POLICY, 0.5, CONFIG.decision_deadline_s)
    assert not identity.decide(POLICY, 1.0, CONFIG.decision_deadline_s)  # one look only: K = 2 were not possible
    identity.add_look(identity.track.look, ENCODED, None)  # a look that failed the gates still counts as a chance
    assert identity.decide(POLICY, 1.0, CONFIG.decision_deadline_s)
    assert identity.verdict.state is TrackState.UNKNOWN
    assert identity.identification(identity.track.look, (640, 480), 1.0).name == UNKNOWN
    assert not identity.wants_look(CONFIG)  # same view, too soon
    faces_later = Detection(FaceBox(100, 260, 260, 100), 0.9, 100.0)  # 1.6× wider
    identity.track.observe(faces_later, 0.6, 5)
    assert identity.wants_look(CONFIG)


def test_an_unknown_track_can_still_become_known_but_a_known_one_never_unknown():
    identity = TrackIdentity(confirmed_track(), CONFIG.vote_window)
    identity.add_look(identity.track.look, ENCODED, vote("obama", 0.7))
    assert not identity.decide(POLICY, 4.9, CONFIG.decision_deadline_s)  # one look: K = 2 were not possible ...
    assert identity.decide(POLICY, 5.0, CONFIG.decision_deadline_s)  # ... but pending is bounded (5 × deadline)
    identity.identification(identity.track.look, (640, 480), 1.5)
    for distance in (0.33, 0.34):
        identity.add_look(identity.track.look, ENCODED, vote("biden", distance))
    assert identity.decide(POLICY, 2.0, CONFIG.decision_deadline_s) and identity.verdict.name == "biden"
    identity.identification(identity.track.look, (640, 480), 2.0)
    for distance in (0.7, 0.7, 0.7):
        identity.add_look(identity.track.look, ENCODED, vote("obama", distance))
    assert not identity.decide(POLICY, 3.0, CONFIG.decision_deadline_s)
    assert identity.verdict.name == "biden"


def test_no_look_no_verdict_however_long_the_encoder_keeps_it_waiting():
    identity = TrackIdentity(confirmed_track(), CONFIG.vote_window)
    assert not identity.decide(POLICY, 60.0, CONFIG.decision_deadline_s)  # a worker hung for a minute
    assert identity.verdict.state is TrackState.PENDING and identity.wants_look(CONFIG)
    identity.add_look(identity.track.look, ENCODED, vote("obama", 0.7))  # now there is something to go on
    assert identity.decide(POLICY, 60.0, CONFIG.decision_deadline_s) and identity.verdict.state is TrackState.UNKNOWN


def test_time_the_encoder_was_down_is_given_back_to_the_track():
    identity = TrackIdentity(confirmed_track(), CONFIG.vote_window)  # first seen at 0.0
    identity.add_look(identity.track.look, ENCODED, vote("obama", 0.7))
    identity.pause(0.5, 60.0)  # looks lost (or stalled) from 0.5 s to 60 s
    assert not identity.decide(POLICY, 64.4, CONFIG.decision_deadline_s)  # 4.9 s of its own
    assert identity.decide(POLICY, 64.5, CONFIG.decision_deadline_s)  # 5 s: the hard deadline, on its look
    newcomer = TrackIdentity(confirmed_track(), CONFIG.vote_window)
    newcomer.pause(-1.0, 30.0)  # first seen while the encoder was down: its clock starts when it is back
    newcomer.add_look(newcomer.track.look, ENCODED, vote("obama", 0.7))
    assert not newcomer.decide(POLICY, 34.9, CONFIG.decision_deadline_s)
    assert newcomer.decide(POLICY, 35.0, CONFIG.decision_deadline_s)


def test_unknown_waits_for_the_deadline_even_when_the_window_rules_every_name_out():
    identity = TrackIdentity(confirmed_track(), CONFIG.vote_window)
    for _ in range(3):
        identity.add_look(identity.track.look, ENCODED, vote("obama", 0.44, runner_up=0.46))  # margins too small
    assert not identity.decide(POLICY, 0.5, CONFIG.decision_deadline_s)
    assert identity.verdict.state is TrackState.PENDING and identity.wants_look(CONFIG)
    for distance in (0.35, 0.36):
        identity.add_look(identity.track.look, ENCODED, vote("obama", distance))
    assert identity.decide(POLICY, 0.9, CONFIG.decision_deadline_s) and identity.verdict.name == "obama"


def test_a_track_whose_looks_lean_to_someone_waits_past_the_deadline_looking_at_the_unknown_pace():
    identity = TrackIdentity(confirmed_track(), CONFIG.vote_window)
    for distance in (0.42, 0.43):  # nearest obama, within 0.45, but biden nearly as near: he is laughing
        identity.add_look(identity.track.look, ENCODED, vote("obama", distance, runner_up=distance + 0.01))
    assert not identity.decide(POLICY, 1.0, CONFIG.decision_deadline_s)  # deadline passed: no false "unknown"
    assert identity.verdict.state is TrackState.PENDING and identity.waiting
    assert not identity.wants_look(CONFIG)  # the same view, too soon: as an unknown track would
    identity.track.observe(Detection(FaceBox(100, 200, 200, 100), 0.9, 100.0), 1.1, 5)  # reencode_s later
    assert identity.wants_look(CONFIG)
    for distance in (0.35, 0.36):  # he stops laughing
        identity.add_look(identity.track.look, ENCODED, vote("obama", distance))
    assert identity.decide(POLICY, 2.5, CONFIG.decision_deadline_s) and identity.verdict.name == "obama"


def test_a_leaning_track_is_unknown_at_the_hard_deadline_and_one_that_leans_nowhere_at_the_deadline():
    leaning, nowhere = (TrackIdentity(confirmed_track(), CONFIG.vote_window) for _ in range(2))
    for _ in range(2):
        leaning.add_look(leaning.track.look, ENCODED, vote("obama", 0.42, runner_up=0.43))
    nowhere.add_look(nowhere.track.look, ENCODED, vote("obama", 0.42, runner_up=0.43))
    nowhere.add_look(nowhere.track.look, ENCODED, vote("biden", 0.42, runner_up=0.43))
    assert nowhere.decide(POLICY, 1.0, CONFIG.decision_deadline_s) and nowhere.verdict.state is TrackState.UNKNOWN
    assert not leaning.decide(POLICY, 4.9, CONFIG.decision_deadline_s)
    assert leaning.decide(POLICY, 5.0, CONFIG.decision_deadline_s)  # HARD_DEADLINE × decision_deadline_s
    assert leaning.verdict.state is TrackState.UNKNOWN


def test_a_waiting_track_that_gives_up_is_unknown_and_says_whom_it_leaned_to():
    identity = TrackIdentity(confirmed_track(), CONFIG.vote_window)
    for distance in (0.42, 0.43):
        identity.add_look(identity.track.look, ENCODED, vote("obama", distance, runner_up=distance + 0.01))
    identity.decide(POLICY, 1.0, CONFIG.decision_deadline_s)
    assert identity.waiting and identity.leaning == "obama"
    identity.give_up(POLICY)  # the track ended before its looks agreed
    who = identity.identification(identity.track.look, (640, 480), 2.0)
    assert (who.name, who.leaning, who.votes) == (UNKNOWN, "obama", 2) and who.distance is not None


def test_a_named_track_carries_no_leaning():
    identity = TrackIdentity(confirmed_track(), CONFIG.vote_window)
    for distance in (0.30, 0.31):
        identity.add_look(identity.track.look, ENCODED, vote("obama", distance))
    assert identity.decide(POLICY, 0.5, CONFIG.decision_deadline_s)
    assert identity.identification(identity.track.look, (640, 480), 0.5).leaning is None
