"""The shared parts of the network interface: latents, slerp, progress, input checks."""

import numpy as np
import pytest

from installation.texts import TwowayError
from models.base import Cancelled, Latent, Progress, check_image, fit_side, interpolate_latents, slerp


def test_slerp_endpoints():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 8, 8)).astype(np.float32)
    assert np.allclose(slerp(a, b, 0.0), a, atol=1e-5)
    assert np.allclose(slerp(a, b, 1.0), b, atol=1e-5)


def test_slerp_keeps_noise_norm():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 64, 64))
    middle = slerp(a, b, 0.5)
    linear = 0.5 * (a + b)
    assert abs(np.linalg.norm(middle) / np.linalg.norm(a) - 1) < 0.05
    assert np.linalg.norm(linear) / np.linalg.norm(a) < 0.8


def test_latent_bytes_round_trip():
    latent = Latent({"z0": np.ones((2, 3), np.float32), "shift": np.zeros(4)}, frozenset({"z0"}))
    restored = Latent.from_bytes(latent.to_bytes())
    assert restored.gaussian == frozenset({"z0"})
    assert np.array_equal(restored.arrays["z0"], latent.arrays["z0"])
    assert np.array_equal(restored.arrays["shift"], latent.arrays["shift"])


def test_interpolate_linear_for_non_gaussian():
    start = Latent({"shift": np.zeros(3)})
    end = Latent({"shift": np.full(3, 2.0)})
    assert np.allclose(interpolate_latents(start, end, 0.25).arrays["shift"], 0.5)


def test_interpolate_mismatch_rejected():
    with pytest.raises(TwowayError) as raised:
        interpolate_latents(Latent({"a": np.zeros(3)}), Latent({"b": np.zeros(3)}), 0.5)
    assert raised.value.key == "networks.latent_mismatch"


def test_progress_part_maps_fractions():
    seen = []
    progress = Progress(lambda fraction, stage, preview: seen.append(fraction)).part(0.5, 1.0)
    progress.report(0.5, "half")
    assert seen == [0.75]


def test_progress_check_raises_when_cancelled():
    with pytest.raises(Cancelled):
        Progress(cancelled=lambda: True).check()


def test_check_image_accepts_rgb():
    image = np.zeros((20, 30, 3), np.uint8)
    assert check_image(image, 10_000).shape == (20, 30, 3)


def test_fit_side_keeps_aspect():
    assert fit_side(300, 400, 200) == (150, 200)
    assert fit_side(400, 300, 200) == (200, 150)
