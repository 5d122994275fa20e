"""The quality measures, on real paintings and on images built to known answers."""

import numpy as np
import pytest
from PIL import Image

from models import metrics


def load(path, size=(96, 72)) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB").resize(size))


def test_swd_nearer_for_same_painting(paintings):
    first, second = load(paintings[0]), load(paintings[1])
    shifted = np.roll(first, 9, axis=1)
    assert metrics.sliced_wasserstein(shifted, first) < metrics.sliced_wasserstein(second, first)


def test_swd_of_image_to_itself_is_small(paintings):
    image = load(paintings[0])
    assert metrics.sliced_wasserstein(image, image) < 0.5


def test_diversity_zero_for_identical_children(paintings):
    parent = load(paintings[0])
    assert metrics.pixel_diversity([parent, parent, parent], parent) == pytest.approx(0.0, abs=1e-6)


def test_diversity_positive_for_different_children(paintings):
    parent = load(paintings[0])
    children = [np.roll(parent, shift, axis=0) for shift in (0, 10, 20)]
    assert metrics.pixel_diversity(children, parent) > 0.3


def test_largest_copy_of_parent_itself(paintings):
    parent = load(paintings[0])
    assert metrics.largest_copy(parent, parent) > 0.95


def test_largest_copy_of_noise_is_zero(paintings):
    parent = load(paintings[0])
    noise = np.random.default_rng(0).integers(0, 256, parent.shape, dtype=np.uint8)
    assert metrics.largest_copy(noise, parent) == 0.0


def test_largest_copy_of_half_copy(paintings):
    parent = load(paintings[0])
    child = np.random.default_rng(0).integers(0, 256, parent.shape, dtype=np.uint8)
    child[:36] = parent[:36]
    assert metrics.largest_copy(child, parent) == pytest.approx(0.5, abs=0.08)
