"""Where dlib's model files are, and how to load them.

The files ship in the ``face_recognition_models`` wheel. Nothing is loaded at
import: loading costs ~100 MB and a second, so callers (one per worker
thread) decide when.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from face01d.errors import ModelError

_FILES = {
    "cnn": "mmod_human_face_detector.dat",
    "landmarks_small": "shape_predictor_5_face_landmarks.dat",
    "landmarks_large": "shape_predictor_68_face_landmarks.dat",
    "encoder": "dlib_face_recognition_resnet_model_v1.dat",
}
ModelName = Literal["cnn", "landmarks_small", "landmarks_large", "encoder"]
MODEL_NAMES: tuple[ModelName, ...] = ("cnn", "landmarks_small", "landmarks_large", "encoder")


def models_dir() -> Path:
    """The ``models`` folder inside the installed face_recognition_models."""
    try:
        return Path(str(resources.files("face_recognition_models") / "models"))
    except ModuleNotFoundError as exc:
        raise ModelError("face_recognition_models is not installed (pip install face_recognition_models)") from exc


def model_path(name: ModelName) -> Path:
    """The path of one model file; a missing file is a ModelError naming it."""
    path = models_dir() / _FILES[name]
    if not path.is_file():
        raise ModelError(f"dlib model file missing: {path}")
    return path


def _dlib():  # noqa: ANN202 - dlib has no type stubs
    """Import dlib lazily so a broken native build is reported as ModelError."""
    try:
        import dlib
    except ImportError as exc:
        raise ModelError(f"dlib cannot be imported: {exc}") from exc
    return dlib


def _load(factory_name: str, name: ModelName):  # noqa: ANN202
    path = model_path(name)
    try:
        return getattr(_dlib(), factory_name)(str(path))
    except RuntimeError as exc:
        raise ModelError(f"dlib cannot load {path}: {exc}") from exc


def load_cnn_detector():  # noqa: ANN201
    """dlib's MMOD CNN face detector."""
    return _load("cnn_face_detection_model_v1", "cnn")


def load_shape_predictor(landmarks: Literal["small", "large"] = "small"):  # noqa: ANN201
    """The 5-point ("small") or 68-point ("large") landmark predictor."""
    if landmarks not in ("small", "large"):
        raise ValueError(f"landmarks must be 'small' or 'large', not {landmarks!r}")
    return _load("shape_predictor", "landmarks_small" if landmarks == "small" else "landmarks_large")


def load_encoder():  # noqa: ANN201
    """dlib's ResNet that maps an aligned face to a 128-D vector."""
    return _load("face_recognition_model_v1", "encoder")


def load_model(name: ModelName):  # noqa: ANN201
    """Load a model by its name in MODEL_NAMES (used by the self-check)."""
    loaders = {
        "cnn": load_cnn_detector,
        "landmarks_small": lambda: load_shape_predictor("small"),
        "landmarks_large": lambda: load_shape_predictor("large"),
        "encoder": load_encoder,
    }
    return loaders[name]()
