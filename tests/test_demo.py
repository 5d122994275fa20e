import cv2
import numpy as np

from installation.cli.run_command import seed_demo
from installation.demo import make_demo_painting
from installation.texts import Texts


def test_demo_is_deterministic():
    assert np.array_equal(make_demo_painting(160, 120), make_demo_painting(160, 120))


def test_demo_has_requested_size():
    assert make_demo_painting(160, 120).shape == (120, 160, 3)


def test_demo_is_composed_not_noise():
    image = make_demo_painting(256, 192).astype(np.float32)
    # Most of the variation is at large scale (masses), not pixel to pixel.
    coarse = cv2.GaussianBlur(image, (0, 0), 8)
    assert coarse.var() / image.var() > 0.5


def test_demo_has_brush_texture():
    image = make_demo_painting(256, 192).astype(np.float32)
    fine = image - cv2.GaussianBlur(image, (0, 0), 2)
    assert fine.std() > 2.0


def test_demo_uses_a_palette_of_several_colours():
    image = make_demo_painting(256, 192)
    hues = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)[..., 0]
    assert len(np.unique(hues // 15)) >= 5


def test_seed_demo_fills_empty_archive_once(archive):
    first = seed_demo(archive, Texts("es"))
    second = seed_demo(archive, Texts("es"))
    assert (archive.node(first).demo, second) == (True, None)
