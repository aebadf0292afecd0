"""Vision core: pure, thread-confined face detection and encoding."""

from face01d.vision.analyzer import FaceAnalyzer, analyzer_for_thread
from face01d.vision.image import crop_area, load_image, resize_to_width, to_rgb
from face01d.faces import Detection, Face, FaceBox

__all__ = [
    "Detection",
    "Face",
    "FaceAnalyzer",
    "FaceBox",
    "analyzer_for_thread",
    "crop_area",
    "load_image",
    "resize_to_width",
    "to_rgb",
]
