"""Detection with dlib HOG/CNN through FaceAnalyzer, against face_recognition's documented results."""

from __future__ import annotations

import cv2
import pytest

from support.face_boxes import OBAMA_BOX, near
from face01d.tracking.associate import iou
from face01d.config.models import DetectorConfig, SetArea
from face01d.vision.analyzer import FaceAnalyzer
from face01d.vision.image import crop_area, resize_to_width

OBAMA = "face_recognition/test_images/obama.jpg"
TWO = "face_recognition/examples/two_people.jpg"
TWO_RIGHT_WIDTH, TWO_LEFT_WIDTH = 186, 155  # HOG boxes of two_people.jpg at full resolution


def test_obama_exact_box(hog: FaceAnalyzer, rgb) -> None:  # noqa: ANN001
    found = hog.detect(rgb(OBAMA), "rgb")
    assert [d.box for d in found] == [OBAMA_BOX]
    assert found[0].score > 0


def test_obama_box_equals_face_recognition(rgb) -> None:  # noqa: ANN001
    import face_recognition

    assert face_recognition.face_locations(rgb(OBAMA), 1, "hog") == [OBAMA_BOX.as_tuple()]


def test_rgba_png_as_decoded_by_opencv(hog: FaceAnalyzer, data) -> None:  # noqa: ANN001
    bgra = cv2.imread(str(data("face_recognition/test_images/32bit.png")), cv2.IMREAD_UNCHANGED)
    assert bgra.shape[2] == 4
    boxes = [d.box for d in hog.detect(bgra, "bgr")]
    assert len(boxes) == 1 and (boxes[0].top, boxes[0].bottom) == (290, 558)


def test_two_people(hog: FaceAnalyzer, rgb) -> None:  # noqa: ANN001
    boxes = [d.box for d in hog.detect(rgb(TWO), "rgb")]
    assert [b.width for b in boxes] == [TWO_RIGHT_WIDTH, TWO_LEFT_WIDTH]  # largest first


def test_colour_orders_and_greyscale_agree(hog: FaceAnalyzer, rgb) -> None:  # noqa: ANN001
    image = rgb(OBAMA)
    from_bgr = hog.detect(image[:, :, ::-1].copy(), "bgr")
    from_grey = hog.detect(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
    from_grey_hw1 = hog.detect(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, None])
    assert [d.box for d in from_bgr] == [OBAMA_BOX]
    assert [d.box for d in from_grey] == [d.box for d in from_grey_hw1]
    assert len(from_grey) == 1 and near(from_grey[0].box, OBAMA_BOX, 4)


def test_set_width_maps_back_to_original_pixels(hog: FaceAnalyzer, rgb) -> None:  # noqa: ANN001
    image = rgb(OBAMA)  # 910 px wide: set_width 455 halves it exactly
    small = FaceAnalyzer(DetectorConfig(set_width=455))
    found = small.detect(image, "rgb")
    resized, factor = resize_to_width(image, 455)
    on_small = small.detector.detect(resized)
    assert factor == 2.0 and len(found) == len(on_small) == 1
    assert near(found[0].box, on_small[0].box.scaled(2.0), 0)
    # HOG's box snaps to its pyramid level: same face, not the same pixels.
    assert iou(found[0].box, OBAMA_BOX) > 0.8 and near(found[0].box, OBAMA_BOX, 30)


@pytest.mark.parametrize(
    ("area", "widths"),
    [
        (SetArea.TOP_LEFT, [TWO_LEFT_WIDTH]),
        (SetArea.TOP_RIGHT, [TWO_RIGHT_WIDTH]),
        (SetArea.BOTTOM_LEFT, []),
        (SetArea.BOTTOM_RIGHT, []),
    ],
)
def test_set_area_maps_back_to_original_pixels(hog: FaceAnalyzer, rgb, area, widths) -> None:  # noqa: ANN001
    image = rgb(TWO)
    found = hog.detect(image, "rgb", set_area=area)
    full = {b.box.width: b.box for b in hog.detect(image, "rgb")}
    assert len(found) == len(widths)
    for detection, width in zip(found, widths):
        assert iou(detection.box, full[width]) > 0.75
        region, dy, dx = crop_area(image, area)
        assert [d.box.scaled(1.0, dy, dx) for d in hog.detector.detect(region.copy())] == [detection.box]


def test_set_area_from_config(rgb) -> None:  # noqa: ANN001
    right_only = FaceAnalyzer(DetectorConfig(set_area=SetArea.TOP_RIGHT, set_width=400))
    boxes = [d.box for d in right_only.detect(rgb(TWO), "rgb")]
    assert len(boxes) == 1 and boxes[0].left > 563  # in the right half of the 1126 px frame


def test_min_face_px_and_max_faces(rgb) -> None:  # noqa: ANN001
    image = rgb(TWO)
    wide_only = FaceAnalyzer(DetectorConfig(min_face_px=170))
    one = FaceAnalyzer(DetectorConfig(max_faces=1))
    assert [d.box.width for d in wide_only.detect(image, "rgb")] == [TWO_RIGHT_WIDTH]
    assert [d.box.width for d in one.detect(image, "rgb")] == [TWO_RIGHT_WIDTH]


def test_cnn_on_a_small_image(rgb) -> None:  # noqa: ANN001
    image = rgb("face_recognition/examples/obama_small.jpg")  # 320×240: ~1 s without upsampling
    cnn = FaceAnalyzer(DetectorConfig(kind="cnn", upsampling=0))
    hog_box = FaceAnalyzer(DetectorConfig()).detect(image, "rgb")[0].box
    found = cnn.detect(image, "rgb")
    assert len(found) == 1 and iou(found[0].box, hog_box) > 0.6
