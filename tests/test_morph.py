import numpy as np
import pytest

from installation.morph import FlowMorph


def blob_image(centre_x: int, size: int = 128) -> np.ndarray:
    """A bright Gaussian blob (sigma 10 pixels) on a dark ground, centred at `centre_x`."""
    y, x = np.mgrid[0:size, 0:size]
    blob = np.exp(-((x - centre_x) ** 2 + (y - size // 2) ** 2) / (2 * 10 ** 2))
    grey = (30 + 200 * blob).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def brightest_column(image: np.ndarray) -> int:
    return int(np.argmax(image[..., 0].sum(axis=0)))


def test_endpoints_are_the_images():
    a, b = blob_image(40), blob_image(70)
    morph = FlowMorph(a, b, work_side=128)
    assert np.array_equal(morph.frame(0.0), a)
    assert np.array_equal(morph.frame(1.0), b)


def test_halfway_moves_blob_halfway():
    a, b = blob_image(40), blob_image(70)
    morph = FlowMorph(a, b, work_side=128)
    # A cross-fade would leave two dim blobs at 40 and 70; the morph moves one to 55.
    assert abs(brightest_column(morph.frame(0.5)) - 55) <= 3


def test_frame_has_size_of_first_image():
    a = blob_image(40, size=96)
    b = np.zeros((40, 120, 3), np.uint8)
    frame = FlowMorph(a, b, work_side=64).frame(0.3)
    assert frame.shape == (96, 96, 3)


def test_frame_size_can_be_chosen():
    a, b = blob_image(40), blob_image(70)
    frame = FlowMorph(a, b, work_side=64, size=(80, 50)).frame(0.7)
    assert frame.shape == (50, 80, 3)
    assert frame.dtype == np.uint8


def test_grey_image_rejected():
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        FlowMorph(np.zeros((10, 10), np.uint8), blob_image(40))
