"""Access cameras: liveness for their faces and one ``access`` event per track (see ``door``, ``decision``)."""

from face01d.access.decision import REASONS, Answer, answer, liveness_of
from face01d.access.door import AccessPoint, door_for

__all__ = ["REASONS", "AccessPoint", "Answer", "answer", "door_for", "liveness_of"]
