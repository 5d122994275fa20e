"""The "patches" network: a child recomposed from the parent's own patches, coarse to fine.

No training and no weights. The parent is scaled to the child's size and made
into an image pyramid. At the coarsest scale noise is added to the parent, and
at every scale each patch of the current image is replaced by its nearest
patch of the parent at that scale. Overlapping patches are folded back by
a weighted average, a few passes per scale, and the result is scaled up to
start the next finer scale. The noise changes the layout, and the patches
keep the parent's strokes and colours. Each scale starts by matching the
image's colour histograms to the parent's. A finer scale searches the parent
blurred as its start is (the scale below scaled up) and copies out the
parent's sharp patches, so the strokes come back sharp. Last, each of the three
finest octaves of detail is scaled to the parent's mean strength, since
averaging overlaps still softens it.

The search picks among the `patch_candidates` nearest patches by distance
divided by (coverage + that parent patch's best distance to any patch of the
image). So a parent patch that already matches some patch very well counts as
farther for the others, and every part of the parent tends to be used rather
than one region repeated. The coarser scales choose among many more
candidates than the finer ones. Two rules keep large regions of the parent
from coming back verbatim: an offset (parent position minus patch position)
that many patches share is avoided, and at the finer scales every other patch
(a checkerboard) avoids the offset its neighbours copy from.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from models.base import Abilities, Child, MIN_INPUT_SIDE, Network, Progress, fit_side
from models.patch_search import FaissPatchIndex, PatchProjection, TorchPatchIndex

log = logging.getLogger(__name__)

MAX_KEYS_AT_STRIDE_ONE = 250_000  # parent patches; above this keys are taken every 2 pixels
PREVIEW_SIDE = 256  # long side of progress previews, in pixels
NOISE_CELL = 3  # pixels of the coarsest scale per cell of the noise grid
PCA_SAMPLE = 8_000  # patches, drawn from every scale, that fit the pyramid's one PCA
POINTS_PER_LIST = 20  # k-means training keys per inverted list of a scale's index
KMEANS_ITERATIONS = 5  # rough lists suffice because the search probes several
PATCH_WEIGHT_SIGMA = 0.25  # standard deviation of the fold weights, as a fraction of the patch side
FINE_SCALES = 2  # finest scales that search `patch_candidates` patches; the coarser ones search more
COARSE_CANDIDATES = 64  # candidate patches per patch at the coarser scales
CROWDED_SHARE = 0.05  # share of the queries above which one offset counts as copying a region
DETAIL_BANDS = 3  # finest octaves of detail brought back to the parent's strength at the end
DETAIL_MIN_SIDE = 8  # pixels; a band is split off only while what remains keeps this short side
DETAIL_GAIN = 1.5  # largest factor applied to one band of detail


@dataclass
class Scale:
    """One scale of the parent's pyramid with the search index over its patches."""

    image: torch.Tensor  # 3 x H x W, float 0..1, on the network's device
    index: FaissPatchIndex | TorchPatchIndex
    key_rows: np.ndarray  # top row of each indexed patch, in pixels
    key_columns: np.ndarray  # left column of each indexed patch, in pixels


class PatchNetwork(Network):
    name = "patches"
    version = "2"
    abilities = Abilities(
        needs_training=False, has_latent=False,
        description="recomposes the parent's own patches coarse to fine; instant, no training")

    def __init__(self, settings, device: str = "cpu"):
        super().__init__(settings, device)
        self.options = settings.networks
        self._pyramid_key: tuple | None = None
        self._pyramid: list[Scale] = []

    def _generate(self, parent: np.ndarray, seed: int, side: int, progress: Progress) -> Child:
        pyramid = self._build_pyramid(parent, side)
        progress.report(0.0, "pyramid")

        image = self._noisy_start(pyramid[-1].image, seed)

        work = self._work_per_scale(pyramid)
        done = 0.0
        for level in range(len(pyramid) - 1, -1, -1):
            scale = pyramid[level]
            if image.shape[1:] != scale.image.shape[1:]:
                image = _resize(image, scale.image.shape[1:])
            # The noise and the averaging of overlaps drift the colours, so matching
            # each channel's histogram to the parent's keeps its palette and balance.
            image = _match_histograms(image, scale.image)
            is_coarsest = level == len(pyramid) - 1
            passes = self.options.patch_coarsest_iterations if is_coarsest else self.options.patch_iterations
            stride = 1 if is_coarsest else self.options.patch_stride
            candidates = self._candidates_at(level)
            for _ in range(passes):
                progress.check()
                image = self._replace_patches(image, scale, stride, not is_coarsest, candidates)
            done += work[level]
            progress.report(done, f"scale {len(pyramid) - level}/{len(pyramid)}", _preview(image))

        # Averaging overlapping patches softens the strokes, so each band of detail is
        # brought back to the parent's strength.
        image = _restore_detail(image, pyramid[0].image)
        pixels = _to_uint8(image)
        extra = {"scales": len(pyramid), "patch_size": self.options.patch_size,
                 "noise": self.options.patch_noise, "coverage": self.options.patch_coverage,
                 "coherence_penalty": self.options.patch_coherence_penalty}
        return Child(image=pixels, seed=seed, latent=None, extra=extra)

    def _noisy_start(self, coarsest: torch.Tensor, seed: int) -> torch.Tensor:
        """Return the coarsest parent with smooth random displacement and colour noise added.

        White noise would not do: summed over a patch it barely changes which
        parent patch is nearest, so every seed would give back the parent. Noise
        on a coarse grid, scaled up smoothly, moves whole regions instead.
        """
        # Drawn on the CPU so a seed gives the same noise on any device.
        generator = torch.Generator().manual_seed(seed)
        height, width = coarsest.shape[1:]
        cells = (max(2, round(height / NOISE_CELL)), max(2, round(width / NOISE_CELL)))
        shift = torch.randn((1, 2, *cells), generator=generator)
        colour = torch.randn((1, 3, *cells), generator=generator)
        device = coarsest.device

        # Displacement in grid_sample units (-1..1 spans the image), so patch_warp is a fraction of it.
        shift = F.interpolate(shift, size=(height, width), mode="bicubic", align_corners=True)
        rows = torch.linspace(-1, 1, height)
        columns = torch.linspace(-1, 1, width)
        grid = torch.stack(torch.meshgrid(columns, rows, indexing="xy"), dim=-1)[None]
        grid = grid + 2 * self.options.patch_warp * shift.permute(0, 2, 3, 1)
        warped = F.grid_sample(coarsest[None], grid.to(device), mode="bilinear",
                               padding_mode="reflection", align_corners=True)[0]

        colour = F.interpolate(colour, size=(height, width), mode="bicubic", align_corners=True)[0]
        spread = coarsest.std(dim=(1, 2), keepdim=True)
        return (warped + self.options.patch_noise * spread * colour.to(device)).clamp(0, 1)

    # --- the pyramid and its indexes ------------------------------------------------------

    def _build_pyramid(self, parent: np.ndarray, side: int) -> list[Scale]:
        """Return the parent's scales, finest first; kept for the next child of the same parent."""
        digest = hashlib.blake2b(parent.tobytes(), digest_size=16).hexdigest()
        key = (digest, parent.shape, side, self.options)
        if key == self._pyramid_key:
            return self._pyramid

        self._pyramid = []  # frees the previous parent's indexes first
        height, width = fit_side(*parent.shape[:2], side)
        images = []
        for size in self._scale_sizes(height, width):
            pixels = cv2.resize(parent, (size[1], size[0]), interpolation=_interpolation(parent, size))
            images.append(torch.from_numpy(pixels).permute(2, 0, 1).float().div_(255).to(self.device))

        # One PCA for every scale: patch statistics change little between scales,
        # and fitting it once keeps the first child of a parent cheap.
        projection = None
        if self.device == "cpu":
            projection = PatchProjection(self._sample_patches(images), self.options.patch_search_dims,
                                         sample_size=PCA_SAMPLE)
        # A finer scale starts from the scale below scaled up, which is blurred. So its
        # index contains the parent's patches blurred the same way (the scale below scaled
        # up), while the patches copied out are the parent's sharp ones. Blurred queries
        # then find the parts of the parent they come from, and the strokes come back sharp.
        keys = [_resize(coarser, image.shape[1:]) for image, coarser in zip(images, images[1:])]
        keys.append(images[-1])
        self._pyramid = [self._index_scale(image, key_image, projection) for image, key_image in zip(images, keys)]
        self._pyramid_key = key
        log.debug("built a %d-scale pyramid of a %dx%d parent at %d px",
                  len(self._pyramid), parent.shape[1], parent.shape[0], side)
        return self._pyramid

    def _scale_sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        ratio = self.options.patch_scale_ratio
        smallest = max(self.options.patch_size + 2, MIN_INPUT_SIDE // 2)
        sizes = [(height, width)]
        while max(sizes[-1]) > self.options.patch_coarsest_side:
            next_height, next_width = round(sizes[-1][0] * ratio), round(sizes[-1][1] * ratio)
            if min(next_height, next_width) < smallest:
                break
            sizes.append((next_height, next_width))
        return sizes

    def _sample_patches(self, images: list[torch.Tensor]) -> np.ndarray:
        """Return up to PCA_SAMPLE patches (N x 3*size*size) taken evenly from every scale."""
        size = self.options.patch_size
        per_scale = PCA_SAMPLE // len(images) + 1
        generator = torch.Generator().manual_seed(0)
        samples = []
        for image in images:
            patches = F.unfold(image[None].cpu(), size)[0]  # (3 * size * size) x patches
            chosen = torch.randperm(patches.shape[1], generator=generator)[:per_scale]
            samples.append(patches[:, chosen].T)
        return torch.cat(samples).numpy()

    def _index_scale(self, image: torch.Tensor, key_image: torch.Tensor,
                     projection: PatchProjection | None) -> Scale:
        size = self.options.patch_size
        rows, columns = image.shape[1] - size + 1, image.shape[2] - size + 1
        stride = 1 if rows * columns <= MAX_KEYS_AT_STRIDE_ONE else 2
        keys = F.unfold(key_image[None], size, stride=stride)[0].T  # patches x (3 * size * size)

        grid_rows = torch.arange(0, rows, stride)
        grid_columns = torch.arange(0, columns, stride)
        key_rows = grid_rows.repeat_interleave(len(grid_columns)).numpy()
        key_columns = grid_columns.repeat(len(grid_rows)).numpy()

        if self.device == "cpu":
            index = FaissPatchIndex(keys.numpy(), self.options.patch_search_dims, projection=projection,
                                    points_per_list=POINTS_PER_LIST, kmeans_iterations=KMEANS_ITERATIONS)
        else:
            # TODO: the CUDA path (exact search in torch) has never run on a GPU. So neither it nor
            # the GPU time target (a 512 px child in under 1 s) is checked.
            index = TorchPatchIndex(keys)
        return Scale(image, index, key_rows, key_columns)

    def _candidates_at(self, level: int) -> int:
        """Return how many nearest parent patches the coverage weighting chooses from at `level` (0 is the finest).

        The layout forms at the coarser scales. With few candidates there, the
        weighting cannot reach the rarer patches (crisp edges), and regions of
        smooth, smoky patches grow that the finer scales then keep.
        """
        if level < FINE_SCALES:
            return self.options.patch_candidates
        return max(self.options.patch_candidates, COARSE_CANDIDATES)

    def _work_per_scale(self, pyramid: list[Scale]) -> list[float]:
        """Return each scale's share of the work, by pixels searched, for progress fractions."""
        costs = []
        for level, scale in enumerate(pyramid):
            is_coarsest = level == len(pyramid) - 1
            passes = self.options.patch_coarsest_iterations if is_coarsest else self.options.patch_iterations
            stride = 1 if is_coarsest else self.options.patch_stride
            costs.append(scale.image.shape[1] * scale.image.shape[2] * passes / stride ** 2)
        total = sum(costs)
        return [cost / total for cost in costs]

    # --- one pass of patch replacement ------------------------------------------------------

    def _replace_patches(self, image: torch.Tensor, scale: Scale, stride: int, break_coherence: bool,
                         candidate_count: int) -> torch.Tensor:
        """Replace every patch of `image` (taken every `stride` pixels) by one of its nearest parent patches and fold."""
        size = self.options.patch_size
        height, width = image.shape[1:]
        # Pad bottom and right so the patch grid ends exactly on the border.
        padded_height = size + stride * math.ceil((height - size) / stride)
        padded_width = size + stride * math.ceil((width - size) / stride)
        padded = F.pad(image[None], (0, padded_width - width, 0, padded_height - height), mode="replicate")
        queries = F.unfold(padded, size, stride=stride)[0].T  # patches x (3 * size * size)
        grid = ((padded_height - size) // stride + 1, (padded_width - size) // stride + 1)

        if isinstance(scale.index, FaissPatchIndex):
            distances, candidates = scale.index.search(queries.numpy(), candidate_count)
        else:
            distances, candidates = scale.index.search(queries, candidate_count)
        distances, candidates = _drop_missing(distances, candidates)
        scores = self._coverage_scores(distances, candidates, scale.index.count)
        chosen = candidates[np.arange(len(candidates)), np.argmin(scores, axis=1)]
        if candidates.shape[1] > 1:
            chosen = self._avoid_crowded_offsets(distances, candidates, chosen, scale, grid, stride)
        if break_coherence and candidates.shape[1] > 1:
            chosen = self._break_coherence(distances, candidates, chosen, scale, grid, stride)

        # Fold with a Gaussian weight per patch pixel: the patch centres dominate,
        # which keeps strokes sharper than a plain average of the overlaps.
        weights = self._patch_weights(image.device).repeat(3)[:, None]  # (3 * size * size) x 1
        values = _gather_patches(scale.image, scale.key_rows[chosen], scale.key_columns[chosen], size)
        output_size = (padded_height, padded_width)
        summed = F.fold((values * weights)[None], output_size, size, stride=stride)
        counts = F.fold(weights.expand_as(values)[None], output_size, size, stride=stride)
        return (summed / counts)[0, :, :height, :width]

    def _patch_weights(self, device) -> torch.Tensor:
        """Return the fold weight of each pixel of a patch (size * size), a Gaussian around its centre."""
        size = self.options.patch_size
        steps = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
        sigma = size * PATCH_WEIGHT_SIGMA
        line = torch.exp(-steps ** 2 / (2 * sigma ** 2))
        return (line[:, None] * line[None, :]).reshape(-1).to(device)

    def _coverage_scores(self, distances: np.ndarray, candidates: np.ndarray, keys: int) -> np.ndarray:
        """Return each candidate's distance divided by (coverage + the candidate's best distance to any query).

        A parent patch that already matches some query very well counts as
        farther for the other queries, so every part of the parent tends to be used.
        """
        found = np.isfinite(distances)
        if distances.shape[1] == 1 or not found[:, 0].any():
            return distances
        best_for_key = np.full(keys, np.inf, dtype=np.float64)
        np.minimum.at(best_for_key, candidates[found], distances[found])
        typical = float(np.median(distances[found[:, 0], 0]))
        coverage = self.options.patch_coverage * typical + 1e-8
        # A missing candidate stays infinitely far: its key may have no finite best distance.
        scores = np.full(distances.shape, np.inf)
        scores[found] = distances[found] / (coverage + best_for_key[candidates[found]])
        return scores

    def _avoid_crowded_offsets(self, distances: np.ndarray, candidates: np.ndarray, chosen: np.ndarray,
                               scale: Scale, grid: tuple[int, int], stride: int) -> np.ndarray:
        """Return `chosen` moved off every offset that more than CROWDED_SHARE of the queries take.

        When the noise leaves a large part of the layout in place, or only
        shifts it, many queries take parent patches with one offset (parent
        position minus query position), and that part comes back verbatim. Each
        candidate with a crowded offset gets `patch_coherence_penalty` times the
        typical distance added, so those queries move to other parent patches
        unless none is nearly as near. Offsets are compared in bins of at least
        two pixels.
        """
        query_rows, query_columns = _query_positions(grid, stride)
        bin_size = max(2, stride)
        chosen_bins = _offset_bins(scale.key_rows[chosen] - query_rows, scale.key_columns[chosen] - query_columns,
                                   bin_size)
        bins, counts = np.unique(chosen_bins, return_counts=True)
        crowded = bins[counts > CROWDED_SHARE * len(chosen)]
        if len(crowded) == 0:
            return chosen
        candidate_bins = _offset_bins(scale.key_rows[candidates] - query_rows[:, None],
                                      scale.key_columns[candidates] - query_columns[:, None], bin_size)
        typical = float(np.median(distances[:, 0])) + 1e-8
        penalised = distances + self.options.patch_coherence_penalty * typical * np.isin(candidate_bins, crowded)
        scores = self._coverage_scores(penalised, candidates, scale.index.count)
        return candidates[np.arange(len(candidates)), np.argmin(scores, axis=1)]

    def _break_coherence(self, distances: np.ndarray, candidates: np.ndarray, chosen: np.ndarray,
                         scale: Scale, grid: tuple[int, int], stride: int) -> np.ndarray:
        """Return `chosen` with every other query (a checkerboard) moved off its neighbours' offset.

        Neighbouring queries that take parent patches with one offset (parent
        position minus query position) copy a whole region of the parent
        verbatim. On the odd squares of a checkerboard, each candidate near
        the offset of one of the four neighbours' choices gets
        `patch_coherence_penalty` times the typical distance added. So the
        copied regions break up wherever the parent has another patch nearly as near.
        """
        rows, columns = grid
        query_rows, query_columns = _query_positions(grid, stride)
        # Offsets of each candidate (queries x k) and of each query's choice (rows x columns).
        candidate_rows = scale.key_rows[candidates] - query_rows[:, None]
        candidate_columns = scale.key_columns[candidates] - query_columns[:, None]
        chosen_rows = (scale.key_rows[chosen] - query_rows).reshape(rows, columns)
        chosen_columns = (scale.key_columns[chosen] - query_columns).reshape(rows, columns)

        # A candidate within `stride` pixels of a neighbour's offset continues that
        # neighbour's region, shifted by less than the patch grid's step.
        shared = np.zeros(candidates.shape, dtype=bool)
        for neighbour_rows, neighbour_columns in zip(_neighbours(chosen_rows), _neighbours(chosen_columns)):
            near_rows = np.abs(candidate_rows - neighbour_rows.reshape(-1, 1)) <= stride
            near_columns = np.abs(candidate_columns - neighbour_columns.reshape(-1, 1)) <= stride
            shared |= near_rows & near_columns

        typical = float(np.median(distances[:, 0])) + 1e-8
        penalised = distances + self.options.patch_coherence_penalty * typical * shared
        scores = self._coverage_scores(penalised, candidates, scale.index.count)
        moved = candidates[np.arange(len(candidates)), np.argmin(scores, axis=1)]
        odd = ((np.arange(rows)[:, None] + np.arange(columns)[None, :]) % 2 == 1).reshape(-1)
        return np.where(odd, moved, chosen)


def _query_positions(grid: tuple[int, int], stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the top row and left column of each query patch, in pixels, row by row."""
    rows, columns = grid
    return np.repeat(np.arange(rows) * stride, columns), np.tile(np.arange(columns) * stride, rows)


def _offset_bins(rows: np.ndarray, columns: np.ndarray, bin_size: int) -> np.ndarray:
    """Return one number per offset (rows, columns), equal for offsets in the same bin."""
    # An offset is smaller than the image, far under 2**19 pixels, so row bins times 2**20 never meet column bins.
    return np.floor_divide(rows, bin_size) * 2**20 + np.floor_divide(columns, bin_size)


def _neighbours(grid: np.ndarray) -> list[np.ndarray]:
    """Return the grid's values above, below, left and right of each cell; the borders repeat the cell's own."""
    padded = np.pad(grid, 1, mode="edge")
    return [padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]]


def _drop_missing(distances: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the search results with missing candidates (index -1) made infinitely far."""
    missing = candidates < 0
    return np.where(missing, np.inf, distances), np.where(missing, 0, candidates)


def _gather_patches(image: torch.Tensor, rows: np.ndarray, columns: np.ndarray,
                    size: int) -> torch.Tensor:
    """Return the patches at (rows, columns) of a 3 x H x W image as (3 * size * size) x patches."""
    width = image.shape[2]
    offsets = torch.arange(size)
    window = (offsets[:, None] * width + offsets[None, :]).reshape(-1)  # size*size
    starts = torch.from_numpy(rows * width + columns)
    flat = (starts[:, None] + window[None, :]).to(image.device)  # patches x size*size
    values = image.reshape(3, -1)[:, flat]  # 3 x patches x size*size
    return values.permute(0, 2, 1).reshape(3 * size * size, -1)


def _match_histograms(image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Return `image` with each channel's values replaced so their histogram equals `reference`'s (same size)."""
    flat = image.reshape(3, -1)
    order = torch.argsort(flat, dim=1)
    target = torch.sort(reference.reshape(3, -1), dim=1).values
    matched = torch.empty_like(flat).scatter_(1, order, target)
    return matched.reshape(image.shape)


def _detail_bands(image: torch.Tensor) -> list[torch.Tensor]:
    """Return the Laplacian pyramid of a 3xHxW image: up to DETAIL_BANDS bands of detail, then the rest."""
    bands = []
    current = image[None]
    for _ in range(DETAIL_BANDS):
        if min(current.shape[2:]) < 2 * DETAIL_MIN_SIDE:
            break
        smaller = F.avg_pool2d(current, 2, ceil_mode=True)
        bands.append(current - F.interpolate(smaller, size=current.shape[2:], mode="bilinear", align_corners=False))
        current = smaller
    bands.append(current)
    return bands


def _restore_detail(image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Return `image` with each band of detail scaled to the mean strength of `reference`'s (same size).

    The gain of a band is at most DETAIL_GAIN, so a plain image is not made noisy.
    """
    bands = _detail_bands(image)
    targets = _detail_bands(reference)
    result = bands[-1]
    for band, target in zip(reversed(bands[:-1]), reversed(targets[:-1])):
        gain = min(DETAIL_GAIN, float(target.abs().mean() / band.abs().mean().clamp_min(1e-6)))
        result = F.interpolate(result, size=band.shape[2:], mode="bilinear", align_corners=False) + gain * band
    return result[0].clamp(0, 1)


def _resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(image[None], size=tuple(size), mode="bicubic", align_corners=False)[0].clamp(0, 1)


def _interpolation(image: np.ndarray, size: tuple[int, int]) -> int:
    return cv2.INTER_AREA if size[0] < image.shape[0] else cv2.INTER_CUBIC


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    return (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


def _preview(image: torch.Tensor) -> np.ndarray:
    pixels = _to_uint8(image)
    long_side = max(pixels.shape[:2])
    if long_side <= PREVIEW_SIDE:
        return pixels
    height, width = fit_side(*pixels.shape[:2], PREVIEW_SIDE)
    return cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA)
