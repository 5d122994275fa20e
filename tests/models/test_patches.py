"""The patch network's own steps: histogram matching, coherence breaking, crowded offsets, the indexes."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from installation.config import Settings
from models import metrics
from models.patch_search import FaissPatchIndex
from models.patches import PatchNetwork, Scale, _detail_bands, _match_histograms, _resize, _restore_detail
from tests.conftest import painting_paths


def patch_network(**values) -> PatchNetwork:
    settings = Settings()
    networks = dataclasses.replace(settings.networks, **values)
    return PatchNetwork(dataclasses.replace(settings, networks=networks), "cpu")


@pytest.fixture(scope="module")
def parent() -> np.ndarray:
    with Image.open(painting_paths()[1]) as image:
        return np.asarray(image.convert("RGB").resize((96, 72)))


def test_histogram_matching_takes_reference_values():
    generator = torch.Generator().manual_seed(0)
    image = torch.rand((3, 10, 12), generator=generator)
    reference = torch.rand((3, 10, 12), generator=generator) ** 2
    matched = _match_histograms(image, reference)
    for channel in range(3):
        assert torch.equal(matched[channel].flatten().sort().values,
                           reference[channel].flatten().sort().values)


def test_histogram_matching_keeps_pixel_order():
    image = torch.linspace(0, 1, 3 * 4 * 5).reshape(3, 4, 5)
    reference = torch.rand((3, 4, 5), generator=torch.Generator().manual_seed(1))
    matched = _match_histograms(image, reference)
    for channel in range(3):
        assert torch.equal(torch.argsort(matched[channel].flatten()),
                           torch.argsort(image[channel].flatten()))


def band_strengths(image: torch.Tensor) -> list[float]:
    return [float(band.abs().mean()) for band in _detail_bands(image)[:-1]]


def as_tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).float() / 255


def test_detail_restored_to_reference_strength(parent):
    reference = as_tensor(parent)
    blurred = F.avg_pool2d(reference[None], 3, stride=1, padding=1, count_include_pad=False)[0]
    softened = 0.6 * reference + 0.4 * blurred
    restored = _restore_detail(softened, reference)
    before, after, target = band_strengths(softened), band_strengths(restored), band_strengths(reference)
    assert len(target) == 3
    assert before[0] < 0.85 * target[0]
    for band in range(3):
        assert abs(after[band] - target[band]) < 0.15 * target[band]


def test_detail_of_reference_itself_unchanged(parent):
    reference = as_tensor(parent)
    assert torch.allclose(_restore_detail(reference, reference), reference, atol=1e-5)


def test_detail_gain_capped_on_plain_image():
    plain = torch.full((3, 40, 40), 0.5) + 0.001 * torch.rand((3, 40, 40), generator=torch.Generator().manual_seed(2))
    busy = torch.rand((3, 40, 40), generator=torch.Generator().manual_seed(3))
    restored = _restore_detail(plain, busy)
    assert float((restored - plain).abs().max()) < 0.002


def test_child_detail_near_parent(parent):
    network = patch_network(patch_coarsest_side=16, patch_iterations=2, patch_coarsest_iterations=4)
    child = network.generate(parent, seed=1, side=96)[0].image
    child_bands = band_strengths(as_tensor(child))
    parent_bands = band_strengths(as_tensor(parent))
    for child_band, parent_band in zip(child_bands, parent_bands):
        assert child_band > 0.9 * parent_band


def test_coverage_keeps_missing_candidates_out():
    # Key 0 appears only as a missing candidate, so it has no finite best distance.
    distances = np.array([[0.1, 0.3, np.inf], [0.2, np.inf, np.inf]], dtype=np.float32)
    candidates = np.array([[1, 2, 0], [2, 0, 0]])
    scores = patch_network()._coverage_scores(distances, candidates, keys=3)
    assert not np.isnan(scores).any()
    assert np.isinf(scores[0, 2])
    assert np.isinf(scores[1, 1:]).all()
    assert np.argmin(scores, axis=1).tolist() == [0, 0]


def test_coherence_break_moves_odd_squares_off_shared_offset():
    # Four by four queries at stride 1 all choose keys at offset (0, 0). The
    # second candidate of each lies 5 pixels further right and is nearly as near.
    network = patch_network(patch_coherence_penalty=3.0)
    rows, columns, width = 4, 4, 20
    key_rows = np.repeat(np.arange(rows + 1), width)
    key_columns = np.tile(np.arange(width), rows + 1)
    scale = Scale(torch.zeros((3, rows + 1, width)), FaissPatchIndex(np.zeros((8, 3), np.float32), 3),
                  key_rows, key_columns)
    scale.index.count = len(key_rows)
    query_rows, query_columns = np.divmod(np.arange(rows * columns), columns)
    same = query_rows * width + query_columns
    shifted = same + 5
    candidates = np.stack([same, shifted], axis=1)
    distances = np.stack([np.full(len(same), 1.0), np.full(len(same), 1.5)], axis=1)

    chosen = network._break_coherence(distances, candidates, same.copy(), scale, (rows, columns), 1)

    odd = (query_rows + query_columns) % 2 == 1
    assert np.array_equal(chosen[odd], shifted[odd])
    assert np.array_equal(chosen[~odd], same[~odd])


def test_coherence_break_off_keeps_best_choice():
    network = patch_network(patch_coherence_penalty=0.0)
    rows, columns, width = 2, 2, 10
    key_rows = np.repeat(np.arange(rows + 1), width)
    key_columns = np.tile(np.arange(width), rows + 1)
    scale = Scale(torch.zeros((3, rows + 1, width)), FaissPatchIndex(np.zeros((8, 3), np.float32), 3),
                  key_rows, key_columns)
    scale.index.count = len(key_rows)
    same = np.array([0, 1, width, width + 1])
    candidates = np.stack([same, same + 5], axis=1)
    distances = np.stack([np.full(4, 1.0), np.full(4, 1.5)], axis=1)
    chosen = network._break_coherence(distances, candidates, same.copy(), scale, (rows, columns), 1)
    assert np.array_equal(chosen, same)


def grid_scale(rows: int, width: int) -> Scale:
    """Return a scale whose keys are every pixel of a (rows + 1) x width image, row by row."""
    key_rows = np.repeat(np.arange(rows + 1), width)
    key_columns = np.tile(np.arange(width), rows + 1)
    scale = Scale(torch.zeros((3, rows + 1, width)), FaissPatchIndex(np.zeros((8, 3), np.float32), 3),
                  key_rows, key_columns)
    scale.index.count = len(key_rows)
    return scale


def test_crowded_offset_is_left():
    # Eight by eight queries all choose keys at offset (0, 0), a copied region. Each
    # one's second candidate lies 3 to 7 pixels further right, nearly as near.
    network = patch_network(patch_coherence_penalty=1.0)
    rows, columns, width = 8, 8, 20
    scale = grid_scale(rows, width)
    query_rows, query_columns = np.divmod(np.arange(rows * columns), columns)
    same = query_rows * width + query_columns
    shifted = same + 3 + np.arange(rows * columns) % 5
    candidates = np.stack([same, shifted], axis=1)
    distances = np.stack([np.full(len(same), 1.0), np.full(len(same), 1.5)], axis=1)

    chosen = network._avoid_crowded_offsets(distances, candidates, same.copy(), scale, (rows, columns), 1)

    assert np.array_equal(chosen, shifted)


def test_scattered_offsets_are_kept():
    # Every query takes a different offset, so none is crowded and no choice moves.
    network = patch_network(patch_coherence_penalty=1.0)
    rows, columns, width = 4, 8, 120
    scale = grid_scale(rows, width)
    query_rows, query_columns = np.divmod(np.arange(rows * columns), columns)
    spread = query_rows * width + query_columns + 3 * np.arange(rows * columns)
    candidates = np.stack([spread, spread + 1], axis=1)
    distances = np.stack([np.full(len(spread), 1.0), np.full(len(spread), 1.5)], axis=1)

    chosen = network._avoid_crowded_offsets(distances, candidates, spread.copy(), scale, (rows, columns), 1)

    assert np.array_equal(chosen, spread)


def test_finer_index_matches_blurred_parent(parent):
    # A finer scale starts from the scale below scaled up, so the parent scaled the
    # same way must find itself in the index exactly, while the values stay sharp.
    network = patch_network(patch_coarsest_side=16)
    pyramid = network._build_pyramid(parent, 96)
    finest, below = pyramid[0], pyramid[1]
    blurred = _resize(below.image, finest.image.shape[1:])
    queries = torch.nn.functional.unfold(blurred[None], 7)[0].T.numpy()
    distances, _ = finest.index.search(queries, 1)
    sharp = torch.nn.functional.unfold(finest.image[None], 7)[0].T.numpy()
    sharp_distances, _ = finest.index.search(sharp, 1)

    assert np.median(distances[:, 0]) < 1e-6
    assert np.median(sharp_distances[:, 0]) > 1e-4
    assert not torch.equal(finest.image, blurred)


def test_pyramid_scales_share_one_projection(parent):
    network = patch_network(patch_coarsest_side=16)
    pyramid = network._build_pyramid(parent, 96)
    projections = {id(scale.index.project) for scale in pyramid}
    assert len(pyramid) > 1
    assert len(projections) == 1


def test_child_same_seed_same_image(parent):
    network = patch_network(patch_coarsest_side=16, patch_iterations=1, patch_coarsest_iterations=2)
    first = network.generate(parent, seed=3, side=64)[0].image
    second = network.generate(parent, seed=3, side=64)[0].image
    assert np.array_equal(first, second)


def test_child_copies_no_large_region(parent):
    network = patch_network(patch_coarsest_side=16, patch_iterations=2, patch_coarsest_iterations=4)
    child = network.generate(parent, seed=0, side=96)[0].image
    assert metrics.largest_copy(child, parent) <= 0.25
