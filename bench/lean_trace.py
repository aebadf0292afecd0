"""Trace every vote and verdict of every track while the daemon runs.

    .venv/bin/python bench/lean_trace.py run -c config.toml --stdout --once 2>/dev/null

Takes ``face01d``'s own arguments; the daemon runs unchanged, and one JSON
line per look (``"trace": "vote"``) and per verdict change (``"trace":
"verdict"``) goes to stdout beside the events, with the track's age on the
monotonic clock. Written to see why the sample's second track turns
``unknown`` at its own pace: which names its looks lean to, how far, with
what margin, and when the deadline falls.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from face01d import cli  # noqa: E402
from face01d.recognition.identity import TrackIdentity  # noqa: E402

_add_look, _decide = TrackIdentity.add_look, TrackIdentity.decide


def _age(identity: TrackIdentity) -> float:
    return round(time.monotonic() - identity.track.first_seen_mono, 3)


def _emit(**fields: object) -> None:
    print(json.dumps(fields, ensure_ascii=False), flush=True)


def add_look(self: TrackIdentity, look, encoded, vote) -> None:  # noqa: ANN001
    """The daemon's add_look, then one trace line (vote None: failed the quality gates)."""
    _add_look(self, look, encoded, vote)
    _emit(trace="vote", track=self.track.id, age_s=_age(self), looks=self.looks,
          name=None if vote is None else vote.name,
          distance=None if vote is None else round(vote.distance, 4),
          margin=None if vote is None else round(vote.margin, 4))


def decide(self: TrackIdentity, policy, now_mono: float, deadline_s: float) -> bool:  # noqa: ANN001
    """The daemon's decide, tracing each change of state."""
    before = self.verdict.state
    changed = _decide(self, policy, now_mono, deadline_s)
    if self.verdict.state is not before:
        _emit(trace="verdict", track=self.track.id, age_s=_age(self), looks=self.looks,
              state=self.verdict.state.value, name=self.verdict.name)
    return changed


if __name__ == "__main__":
    TrackIdentity.add_look, TrackIdentity.decide = add_look, decide  # type: ignore[method-assign]
    cli.main()
