"""Checks every registered network must pass, at tiny sizes on the CPU."""

import dataclasses

import numpy as np
import pytest
from PIL import Image

from installation.config import Settings
from installation.texts import TwowayError
from models import registry
from models.base import Cancelled, Latent, Progress, fit_side
from tests.conftest import painting_paths

SIDE = 40  # pixels, long side of the children made here

# Settings that make each network small enough for a test; a network missing
# here runs with its defaults.
TINY = {
    "patches": {"networks": {"patch_coarsest_side": 16, "patch_iterations": 1,
                             "patch_coarsest_iterations": 2}},
    "multiscale": {"multiscale": {"size_cpu": 32, "coarsest_side": 12, "iterations": 2,
                                  "samples": 0, "encode_steps": 2}},
}


def tiny_settings(name: str) -> Settings:
    settings = Settings()
    for section, values in TINY.get(name, {}).items():
        settings = dataclasses.replace(
            settings, **{section: dataclasses.replace(getattr(settings, section), **values)})
    return settings


@pytest.fixture(scope="module")
def parent() -> np.ndarray:
    with Image.open(painting_paths()[0]) as image:
        return np.asarray(image.convert("RGB").resize((48, 36)))


@pytest.fixture(scope="module", params=registry.available())
def network(request, parent, tmp_path_factory):
    name = request.param
    made = registry.get_network(name, tiny_settings(name), "cpu")
    if made.abilities.needs_training:
        made.train([parent], tmp_path_factory.mktemp(name) / "checkpoint.pt")
    return made


def test_network_describes_itself(network):
    assert network.name in registry.available()
    assert isinstance(network.version, str) and network.version
    assert isinstance(network.abilities.description, str)


def test_child_shape_and_dtype(network, parent):
    child = network.generate(parent, count=1, seed=1, side=SIDE)[0]
    assert child.image.shape == (*fit_side(36, 48, SIDE), 3)
    assert child.image.dtype == np.uint8


def test_count_children(network, parent):
    children = network.generate(parent, count=2, seed=5, side=SIDE)
    assert [child.seed for child in children] == [5, 6]


def test_same_seed_same_child(network, parent):
    first = network.generate(parent, count=1, seed=3, side=SIDE)[0]
    second = network.generate(parent, count=1, seed=3, side=SIDE)[0]
    assert np.array_equal(first.image, second.image)


def test_seeds_give_different_children(network, parent):
    first = network.generate(parent, count=1, seed=3, side=SIDE)[0]
    second = network.generate(parent, count=1, seed=4, side=SIDE)[0]
    assert not np.array_equal(first.image, second.image)


def test_progress_is_reported(network, parent):
    reports = []
    progress = Progress(lambda fraction, stage, preview: reports.append((fraction, stage, preview)))
    network.generate(parent, count=1, seed=0, side=SIDE, progress=progress)
    fractions = [fraction for fraction, _, _ in reports]
    assert len(reports) >= 2
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    previews = [preview for _, _, preview in reports if preview is not None]
    for preview in previews:
        assert preview.ndim == 3
        assert preview.shape[2] == 3
        assert preview.dtype == np.uint8


def test_cancellation_stops_generation(network, parent):
    reports = []
    progress = Progress(lambda fraction, stage, preview: reports.append(fraction),
                        cancelled=lambda: len(reports) >= 1)
    with pytest.raises(Cancelled):
        network.generate(parent, count=2, seed=0, side=SIDE, progress=progress)
    assert len(reports) == 1


@pytest.mark.parametrize("image, key", [
    (np.zeros((1, 1, 3), np.uint8), "networks.image_too_small"),
    (np.zeros((40, 40), np.uint8), "networks.grayscale_image"),
    (np.zeros((40, 40, 1), np.uint8), "networks.grayscale_image"),
    (np.zeros((40, 40, 4), np.uint8), "networks.alpha_image"),
    (np.zeros((40, 40, 3), np.float32), "networks.bad_image_dtype"),
    (np.zeros((40, 40, 2), np.uint8), "networks.bad_image_shape"),
    ([[0, 0, 0]], "networks.bad_image_type"),
])
def test_bad_parent_rejected(network, image, key):
    with pytest.raises(TwowayError) as raised:
        network.generate(image, count=1, seed=0, side=SIDE)
    assert raised.value.key == key


def test_huge_parent_rejected(network):
    limited = dataclasses.replace(network.settings.networks, max_input_pixels=50 * 50)
    huge = registry.get_network(network.name, dataclasses.replace(network.settings, networks=limited))
    with pytest.raises(TwowayError) as raised:
        huge.generate(np.zeros((60, 60, 3), np.uint8), count=1, seed=0, side=SIDE)
    assert raised.value.key == "networks.image_too_large"


def test_bad_count_rejected(network, parent):
    with pytest.raises(TwowayError) as raised:
        network.generate(parent, count=0, seed=0, side=SIDE)
    assert raised.value.key == "networks.bad_count"


def test_latent_path_or_clear_error(network, parent):
    if not network.abilities.has_latent:
        with pytest.raises(TwowayError) as raised:
            network.reconstruct(parent)
        assert raised.value.key == "networks.no_latent"
        return
    start = network.reconstruct(parent)
    end = network.generate(parent, count=1, seed=2, side=SIDE)[0].latent
    assert isinstance(end, Latent)
    middle = network.interpolate(start, end, 0.5)
    decoded = network.decode(middle)
    assert decoded.dtype == np.uint8
    assert decoded.ndim == 3
    assert decoded.shape[2] == 3
    restored = Latent.from_bytes(middle.to_bytes())
    assert restored.arrays.keys() == middle.arrays.keys()
