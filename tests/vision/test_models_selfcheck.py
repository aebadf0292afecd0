"""Model files and the self-check: real loads, and the errors a user would see."""

from __future__ import annotations

import subprocess
import sys

import pytest

from face01d import selfcheck
from face01d.errors import ModelError
from face01d.vision import models


def test_every_model_file_is_found() -> None:
    for name in models.MODEL_NAMES:
        assert models.model_path(name).stat().st_size > 500_000


def test_missing_and_truncated_models_are_model_errors(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    real = models.model_path("landmarks_small")
    monkeypatch.setattr(models, "models_dir", lambda: tmp_path)
    with pytest.raises(ModelError, match="shape_predictor_5_face_landmarks.dat"):
        models.load_shape_predictor("small")
    (tmp_path / real.name).write_bytes(real.read_bytes()[:5000])
    with pytest.raises(ModelError, match=str(tmp_path / real.name)):
        models.load_shape_predictor("small")
    failed = {r.name: r for r in selfcheck.run_checks() if not r.ok}
    assert set(failed) == {f"model {name}" for name in models.MODEL_NAMES}
    assert "dlib model file missing" in failed["model encoder"].detail


def test_import_loads_no_model() -> None:
    code = "import sys, face01d.vision, face01d.selfcheck; print('dlib' in sys.modules, 'mediapipe' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_run_checks_on_this_machine() -> None:
    results = {r.name: r for r in selfcheck.run_checks()}
    assert all(r.ok for r in results.values()), [r for r in results.values() if not r.ok]
    assert {"python", "cpu", "dlib", "mediapipe", "opencv", "model encoder", "workers"} <= set(results)
    assert "CUDA" in results["dlib"].detail and "sse4_2" in results["cpu"].detail


def test_cpu_without_avx_is_a_warning(tmp_path) -> None:  # noqa: ANN001
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse sse2 sse4_1 sse4_2 popcnt\n")
    result = selfcheck.check_cpu(cpuinfo)
    assert result.ok and result.detail.startswith("warning: no AVX") and "sse4_2" in result.detail
    missing = selfcheck.check_cpu(tmp_path / "absent")
    assert missing.ok and "cannot read" in missing.detail
