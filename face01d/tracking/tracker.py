"""The tracks of one camera: associate, confirm, predict, end.

Pure and synchronous: time comes from the frames (their capture time), so
a video read faster than real time is tracked on its own timeline and the
tests are exact. The event loop calls it between worker jobs; it costs
microseconds per face.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from face01d.config.models import TrackingConfig
from face01d.faces import Detection
from face01d.tracking.associate import associate, centre_gate
from face01d.tracking.track import Look, Track, TrackPhase

MIN_MISSES = 2  # a track ends only after this many detections in a row missed it (and max_absence_s passed)


@dataclass(slots=True)
class TrackerUpdate:
    """What one frame changed."""

    confirmed: list[Track] = field(default_factory=list)  # became confirmed in this frame
    ended: list[Track] = field(default_factory=list)  # confirmed tracks that ended (tentative ones vanish)
    seen: list[Track] = field(default_factory=list)  # confirmed tracks detected in this frame


class FaceTracker:
    def __init__(self, config: TrackingConfig, camera: str) -> None:
        self._config = config
        self._camera = camera
        self._tracks: list[Track] = []
        self._ids = itertools.count(1)
        self._epoch = f"{int(time.time()) % 100000:05d}"  # ids stay unique across restarts

    @property
    def tracks(self) -> list[Track]:
        """Live tracks, tentative and confirmed."""
        return list(self._tracks)

    def update(
        self, detections: Sequence[Detection], captured_at: float, frame_index: int, read_mono: float
    ) -> TrackerUpdate:
        """A frame where the detector ran: continue, start and end tracks."""
        update = TrackerUpdate()
        for track in self._tracks:
            track.predict(captured_at)
        gates = [centre_gate(captured_at - t.look.captured_at) for t in self._tracks]
        boxes = [d.box for d in detections]
        pairs, lost, new = associate([t.box for t in self._tracks], boxes, self._config.min_iou, gates)
        for t, d in pairs:
            self._continue(self._tracks[t], detections[d], captured_at, frame_index, update)
        for t in lost:
            self._tracks[t].misses += 1
        for d in new:
            track = self._start(detections[d], captured_at, frame_index, read_mono)
            self._tracks.append(track)
            if track.confirmed:  # confirm_hits = 1: confirmed at first sight
                update.confirmed.append(track)
                update.seen.append(track)
        update.ended = self._end(lambda track: track.misses >= MIN_MISSES and self._absent(track, captured_at))
        return update

    def predict(self, captured_at: float) -> TrackerUpdate:
        """A frame without detection: boxes move on; only a detection can tell that a face is gone."""
        for track in self._tracks:
            track.predict(captured_at)
        return TrackerUpdate()

    def expire(self, now: float) -> list[Track]:
        """No frames at all (a camera went silent): end the tracks unseen for ``max_absence_s``."""
        return self._end(lambda track: self._absent(track, now))

    def end_all(self) -> list[Track]:
        """The source ended: every confirmed track ends now."""
        ended = [t for t in self._tracks if t.confirmed]
        for track in ended:
            track.phase = TrackPhase.ENDED
        self._tracks.clear()
        return ended

    def _continue(self, track: Track, detection: Detection, at: float, index: int, update: TrackerUpdate) -> None:
        track.observe(detection, at, index)
        if track.phase is TrackPhase.TENTATIVE and track.hits >= self._config.confirm_hits:
            track.phase = TrackPhase.CONFIRMED
            update.confirmed.append(track)
        if track.confirmed:
            update.seen.append(track)

    def _start(self, detection: Detection, at: float, index: int, read_mono: float) -> Track:
        look = Look(detection.box, detection.score, detection.sharpness, at, index)
        track = Track(f"{self._camera}-{self._epoch}-{next(self._ids)}", look, at, read_mono, at)
        if self._config.confirm_hits <= 1:
            track.phase = TrackPhase.CONFIRMED
        return track

    def _absent(self, track: Track, now: float) -> bool:
        """Unseen for max_absence_s (or the clock stepped back by as much)."""
        limit = self._config.max_absence_s
        return now - track.last_seen >= limit or now < track.last_seen - limit

    def _end(self, gone_if: Callable[[Track], bool]) -> list[Track]:
        """Remove the tracks that are gone; confirmed ones end, tentative ones just disappear."""
        gone = [track for track in self._tracks if gone_if(track)]
        for track in gone:
            self._tracks.remove(track)
        ended = [t for t in gone if t.confirmed]
        for track in ended:
            track.phase = TrackPhase.ENDED
        return ended
