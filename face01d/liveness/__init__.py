"""Liveness: is the face a camera sees a person, or a picture of one?

Pure measurements on landmarks (``eyes``: blinks; ``gaze``: glances;
``motion``: how far the face's motion is from a flat sheet's), a per-track
judge (``tracker``), the Face Mesh landmarker that feeds them (``mesh``, one
per thread), and ``CameraLiveness`` (``camera``), the seam a pipeline calls
for an access camera's faces.
"""

from face01d.liveness.camera import CameraLiveness
from face01d.liveness.eyes import Blink, BlinkDetector, eye_openness, find_blinks
from face01d.liveness.gaze import Glance, GlanceDetector, iris_positions
from face01d.liveness.mesh import Crop, MeshLandmarker, face_crop
from face01d.liveness.motion import NonRigidMeter, inter_ocular, plane_residual
from face01d.liveness.tracker import LivenessSettings, LivenessTracker, Verdict

__all__ = [
    "Blink",
    "BlinkDetector",
    "CameraLiveness",
    "Crop",
    "Glance",
    "GlanceDetector",
    "LivenessSettings",
    "LivenessTracker",
    "MeshLandmarker",
    "NonRigidMeter",
    "Verdict",
    "eye_openness",
    "face_crop",
    "find_blinks",
    "iris_positions",
    "inter_ocular",
    "plane_residual",
]
