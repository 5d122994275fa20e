import cv2
import numpy as np
import pytest

from installation.capture.canvas import detect_canvas
from installation.capture.rectify import canvas_size, order_corners, rectify, white_balance
from installation.capture.synthetic import jaccard_in_canvas_frame, place_painting
from tests.capture.conftest import read_rgb


def jaccard(photo, detection, painting):
    return jaccard_in_canvas_frame(photo.corners, detection.corners, (painting.shape[1], painting.shape[0]))


def test_detect_plain_wall_painting(painting):
    photo = place_painting(painting, np.random.default_rng(11), size=(960, 540), frame=False,
                           hand=False, glare=False)
    detection = detect_canvas(photo.image)
    assert detection.found
    assert jaccard(photo, detection, painting) > 0.95


def test_detect_with_hand_over_edge(painting):
    photo = place_painting(painting, np.random.default_rng(5), size=(960, 540), fraction=(0.5, 0.7),
                           frame=False, hand=True, glare=True)
    detection = detect_canvas(photo.image)
    assert detection.found
    assert jaccard(photo, detection, painting) > 0.9


def placed_and_detected(painting, seed: int, **options):
    """Return a 960x540 synthetic photo of `painting` (no hand or glare unless asked) and the detection in it."""
    options = {"frame": False, "hand": False, "glare": False, **options}
    photo = place_painting(painting, np.random.default_rng(seed), size=(960, 540), **options)
    return photo, detect_canvas(photo.image)


@pytest.mark.parametrize("seed", [13, 30])
def test_detect_above_easel_ledge(painting, seed):
    photo, detection = placed_and_detected(painting, seed, fraction=(0.5, 0.7))
    assert "easel" in photo.description
    assert detection.found
    assert jaccard(photo, detection, painting) > 0.95


@pytest.mark.parametrize("seed", [10, 37])
def test_detect_steps_off_picture_frame(painting, seed):
    photo, detection = placed_and_detected(painting, seed, fraction=(0.5, 0.6), frame=True)
    assert "frame" in photo.description
    assert detection.found
    assert jaccard(photo, detection, painting) > 0.95


def test_detect_dark_edge_without_frame(painting):
    # The painting is dark along one side, which must not be taken for a picture frame.
    photo, detection = placed_and_detected(painting, 33, fraction=(0.2, 0.3))
    assert detection.found
    assert jaccard(photo, detection, painting) > 0.95


@pytest.mark.parametrize("seed", [18, 61])
def test_detect_small_canvas_on_easel(painting, seed):
    # The whole-frame result is weak here, and the box search finds a rectangle inside the painting.
    photo, detection = placed_and_detected(painting, seed, fraction=(0.2, 0.3))
    assert "easel" in photo.description
    assert detection.found
    assert jaccard(photo, detection, painting) > 0.95


@pytest.mark.xfail(strict=True, reason="the dark left part of this painting barely differs from the dark frame, "
                                        "so a straight line inside the painting is taken for that side")
def test_detect_inside_picture_frame(painting):
    photo, detection = placed_and_detected(painting, 2, fraction=(0.5, 0.6), frame=True)
    assert jaccard(photo, detection, painting) > 0.9


def test_detect_empty_wall_finds_nothing():
    rng = np.random.default_rng(1)
    wall = np.clip(np.full((360, 640, 3), 180.0) + rng.normal(0, 2, (360, 640, 3)), 0, 255).astype(np.uint8)
    assert not detect_canvas(wall).found


def test_detect_corners_clockwise_from_top_left(painting):
    photo = place_painting(painting, np.random.default_rng(11), size=(960, 540), frame=False,
                           hand=False, glare=False)
    corners = detect_canvas(photo.image).corners
    np.testing.assert_array_equal(corners, order_corners(corners[[2, 0, 3, 1]]))


def test_order_corners_shuffled():
    square = np.array([[10, 10], [90, 12], [88, 80], [12, 78]], np.float32)
    np.testing.assert_array_equal(order_corners(square[[3, 1, 0, 2]]), square)


def test_canvas_size_from_centimetres():
    corners = np.array([[0, 0], [100, 0], [100, 100], [0, 100]], np.float32)
    width, height = canvas_size(corners, width_cm=40, height_cm=80)
    assert abs(width / height - 0.5) < 0.01


def test_rectify_recovers_painting(painting):
    photo = place_painting(painting, np.random.default_rng(4), size=(960, 540), frame=False,
                           hand=False, glare=False)
    size = (painting.shape[1] // 2, painting.shape[0] // 2)
    flat = rectify(photo.image, photo.corners, size)
    reference = cv2.resize(painting, size, interpolation=cv2.INTER_AREA)
    correlation = np.corrcoef(flat.astype(np.float32).ravel(), reference.astype(np.float32).ravel())[0, 1]
    assert correlation > 0.8


def test_white_balance_grey_reference_neutral():
    image = np.full((20, 20, 3), (150, 120, 90), np.uint8)
    balanced = white_balance(image, grey=image[:5, :5])
    assert np.ptp(balanced[10, 10].astype(int)) <= 1


def test_white_balance_automatic_reduces_cast(painting):
    cast = np.clip(painting * np.array([1.2, 1.0, 0.8]), 0, 255).astype(np.uint8)
    balanced = white_balance(cast)
    before = abs(float(cast[..., 0].mean()) - float(cast[..., 2].mean()))
    after = abs(float(balanced[..., 0].mean()) - float(balanced[..., 2].mean()))
    assert after < before


@pytest.mark.parametrize(("index", "seed", "fraction", "frame"), [
    (2, 10, (0.3, 0.5), False),  # an easel's legs down to a floor line
    (0, 21, (0.3, 0.5), False),  # the same, with a window beside the canvas
    (0, 12, (0.5, 0.6), True),  # a frame on an easel above a floor line
])
def test_detect_ignores_floor_line(paintings, index, seed, fraction, frame):
    # A floor line runs on past the canvas's corners, where a canvas side ends.
    painting = read_rgb(paintings[index])
    photo, detection = placed_and_detected(painting, seed, fraction=fraction, frame=frame)
    assert "easel" in photo.description
    assert jaccard(photo, detection, painting) > 0.95


def test_detect_small_canvas_beside_window(paintings):
    # The whole-frame search takes the window with every side confirmed, and the box
    # search finds the canvas with a much higher score but a lower confidence.
    painting = read_rgb(paintings[1])
    photo, detection = placed_and_detected(painting, 13, fraction=(0.2, 0.3))
    assert "window" in photo.description
    assert jaccard(photo, detection, painting) > 0.8
