"""Tracking: the same face followed from frame to frame.

Detections are associated with the tracks of the previous frames by
overlap; between detections (HOG runs one frame in N) a track's box moves
on with its measured velocity. A track is tentative until seen a few times,
then confirmed; it ends after an absence. Identity is not decided here:
the pipeline asks which confirmed tracks want a fresh look
(``tracking.schedule``) and recognition decides from those looks.
"""

from face01d.tracking.track import Look, Track, TrackPhase
from face01d.tracking.tracker import FaceTracker, TrackerUpdate

__all__ = ["FaceTracker", "Look", "Track", "TrackPhase", "TrackerUpdate"]
