"""The quality gates' measures on real faces: a blurred face is less sharp, a turned one has a larger yaw."""

from __future__ import annotations

import cv2
import numpy as np

from face01d.config.models import DetectorConfig
from face01d.faces import FaceBox
from face01d.vision.analyzer import FaceAnalyzer
from face01d.vision.image import load_image
from face01d.vision.quality import sharpness, yaw_from_points

OBAMA_BOX = FaceBox(142, 617, 409, 349)  # HOG's box on obama.jpg (shared/data/README.md)


def test_blur_lowers_sharpness_and_size_does_not_raise_it(data):
    rgb = load_image(data.fr_test_images / "obama.jpg")
    sharp = sharpness(rgb, OBAMA_BOX)
    blurred = sharpness(cv2.GaussianBlur(rgb, (0, 0), 6), OBAMA_BOX)
    half = cv2.resize(rgb, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    small = sharpness(half, FaceBox(71, 308, 204, 174))
    assert blurred < sharp / 4
    assert 0.5 < small / sharp < 3  # measured at 64×64 whatever the face's size
    assert sharpness(rgb[:, :, ::-1].copy(), OBAMA_BOX, "bgr") == sharp
    assert sharpness(rgb, FaceBox(0, 1, 1, 0)) == 0.0


def test_a_frontal_face_has_a_small_yaw_and_a_mirrored_one_the_same(data):
    analyzer = FaceAnalyzer(DetectorConfig(kind="hog", upsampling=1))
    rgb = load_image(data.fr_test_images / "obama.jpg")
    [face] = analyzer.encode_with_pose(rgb, [OBAMA_BOX], "rgb")
    mirrored_box = FaceBox(OBAMA_BOX.top, rgb.shape[1] - OBAMA_BOX.left, OBAMA_BOX.bottom, rgb.shape[1] - OBAMA_BOX.right)
    [mirrored] = analyzer.encode_with_pose(rgb[:, ::-1].copy(), [mirrored_box], "rgb")
    assert face.yaw < 0.15 and abs(face.yaw - mirrored.yaw) < 0.05


def test_yaw_grows_as_the_nose_moves_off_the_middle_of_the_eyes():
    eyes = np.array([[100, 100], [80, 100], [20, 100], [0, 100]], dtype=float)  # 5-point: eye corners first
    frontal, turned = np.vstack([eyes, [[50, 140]]]), np.vstack([eyes, [[80, 140]]])
    assert yaw_from_points(frontal) == 0.0
    assert abs(yaw_from_points(turned) - 30 / 80) < 1e-9  # 30 px off the middle, eyes 80 px apart
