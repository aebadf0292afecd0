"""FACE01's percentage ↔ distance, and the config's one-threshold rule."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from face01d.config.models import GalleryConfig
from face01d.similarity import distance_to_percentage, percentage_to_tolerance


def test_known_points_both_ways() -> None:
    assert percentage_to_tolerance(99.1) == pytest.approx(0.397, abs=1e-3)
    assert distance_to_percentage(0.6) == pytest.approx(98.06, abs=5e-3)
    assert percentage_to_tolerance(float(distance_to_percentage(0.6))) == pytest.approx(0.6, abs=1e-9)
    assert distance_to_percentage(0.0) == 100.0


def test_round_trip_over_many_values() -> None:
    distances = np.linspace(0.0, 1.4, 281)
    percentages = distance_to_percentage(distances)
    assert np.all(np.diff(percentages) < 0)  # monotone: larger distance, less similar
    back = [percentage_to_tolerance(float(p)) for p in percentages]
    np.testing.assert_allclose(back, distances, atol=1e-9)


def test_config_effective_tolerance() -> None:
    assert GalleryConfig().effective_tolerance == 0.5  # measured (bench/open_set.py), not face_recognition's 0.6
    assert GalleryConfig(tolerance=0.6).effective_tolerance == 0.6
    assert GalleryConfig(similar_percentage=99.1).effective_tolerance == pytest.approx(0.397, abs=1e-3)


def test_config_rejects_both_thresholds() -> None:
    with pytest.raises(ValidationError, match="either tolerance or similar_percentage"):
        GalleryConfig(tolerance=0.5, similar_percentage=99)


@pytest.mark.parametrize("percentage", [0.0, -1.0, 100.5])
def test_percentage_out_of_range(percentage: float) -> None:
    with pytest.raises(ValueError):
        percentage_to_tolerance(percentage)
