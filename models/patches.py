"""The "patches" network: a child recomposed from the parent's own patches, coarse to fine.

No training and no weights. The parent is scaled to the child's size and made
into an image pyramid. At the coarsest scale noise is added to the parent, and
at every scale each patch of the current image is replaced by its nearest
patch of the parent at that scale. Overlapping patches are folded back by
averaging, a few passes per scale, and the result is scaled up to start the
next finer scale. The noise changes the layout, and the patches keep the
parent's strokes and colours.

The search picks among the `patch_candidates` nearest patches by distance
divided by (coverage + that parent patch's best distance to any patch of the
image). So a parent patch that already matches some patch very well counts as
farther for the others, and every part of the parent tends to be used rather
than one region repeated.
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
from models.patch_search import FaissPatchIndex, TorchPatchIndex

log = logging.getLogger(__name__)

MAX_KEYS_AT_STRIDE_ONE = 250_000  # parent patches; above this keys are taken every 2 pixels
PREVIEW_SIDE = 256  # long side of progress previews, in pixels
NOISE_CELL = 3  # pixels of the coarsest scale per cell of the noise grid


@dataclass
class Scale:
    """One scale of the parent's pyramid with the search index over its patches."""

    image: torch.Tensor  # 3 x H x W, float 0..1, on the network's device
    index: FaissPatchIndex | TorchPatchIndex
    key_rows: np.ndarray  # top row of each indexed patch, in pixels
    key_columns: np.ndarray  # left column of each indexed patch, in pixels


class PatchNetwork(Network):
    name = "patches"
    version = "1"
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
            is_coarsest = level == len(pyramid) - 1
            passes = self.options.patch_coarsest_iterations if is_coarsest else self.options.patch_iterations
            stride = 1 if is_coarsest else self.options.patch_stride
            for _ in range(passes):
                progress.check()
                image = self._replace_patches(image, scale, stride)
            done += work[level]
            progress.report(done, f"scale {len(pyramid) - level}/{len(pyramid)}", _preview(image))

        pixels = _to_uint8(image)
        extra = {"scales": len(pyramid), "patch_size": self.options.patch_size,
                 "noise": self.options.patch_noise, "coverage": self.options.patch_coverage}
        return Child(image=pixels, seed=seed, latent=None, extra=extra)

    def _noisy_start(self, coarsest: torch.Tensor, seed: int) -> torch.Tensor:
        """Return the coarsest parent with smooth random displacement and colour noise added.

        White noise would not do: summed over a patch it barely changes which
        parent patch is nearest, so every seed would give back the parent. Noise
        on a coarse grid, scaled up smoothly, moves whole regions instead.
        """
        # TODO: on smooth paintings children still copy regions over a quarter of their area
        # (benchmarks/BENCHMARKS.md). A larger warp breaks them up but moves children away from the parent.
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
        for size in self._scale_sizes(height, width):
            pixels = cv2.resize(parent, (size[1], size[0]), interpolation=_interpolation(parent, size))
            self._pyramid.append(self._index_scale(pixels))
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

    def _index_scale(self, pixels: np.ndarray) -> Scale:
        image = torch.from_numpy(pixels).permute(2, 0, 1).float().div_(255).to(self.device)
        size = self.options.patch_size
        rows, columns = image.shape[1] - size + 1, image.shape[2] - size + 1
        stride = 1 if rows * columns <= MAX_KEYS_AT_STRIDE_ONE else 2
        keys = F.unfold(image[None], size, stride=stride)[0].T  # patches x (3 * size * size)

        grid_rows = torch.arange(0, rows, stride)
        grid_columns = torch.arange(0, columns, stride)
        key_rows = grid_rows.repeat_interleave(len(grid_columns)).numpy()
        key_columns = grid_columns.repeat(len(grid_rows)).numpy()

        if self.device == "cpu":
            index = FaissPatchIndex(keys.numpy(), self.options.patch_search_dims)
        else:
            # NOTE: the CUDA path (exact search in torch) has not run on a GPU yet; only the CPU path is tested.
            index = TorchPatchIndex(keys)
        return Scale(image, index, key_rows, key_columns)

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

    def _replace_patches(self, image: torch.Tensor, scale: Scale, stride: int) -> torch.Tensor:
        """Replace every patch of `image` (taken every `stride` pixels) by a parent patch and fold."""
        size = self.options.patch_size
        height, width = image.shape[1:]
        # Pad bottom and right so the patch grid ends exactly on the border.
        padded_height = size + stride * math.ceil((height - size) / stride)
        padded_width = size + stride * math.ceil((width - size) / stride)
        padded = F.pad(image[None], (0, padded_width - width, 0, padded_height - height), mode="replicate")
        queries = F.unfold(padded, size, stride=stride)[0].T  # patches x (3 * size * size)

        if isinstance(scale.index, FaissPatchIndex):
            distances, candidates = scale.index.search(queries.numpy(), self.options.patch_candidates)
        else:
            distances, candidates = scale.index.search(queries, self.options.patch_candidates)
        chosen = self._pick_with_coverage(distances, candidates, scale.index.count)

        values = _gather_patches(scale.image, scale.key_rows[chosen], scale.key_columns[chosen], size)
        output_size = (padded_height, padded_width)
        summed = F.fold(values[None], output_size, size, stride=stride)
        counts = F.fold(torch.ones_like(values[None]), output_size, size, stride=stride)
        return (summed / counts)[0, :, :height, :width]

    def _pick_with_coverage(self, distances: np.ndarray, candidates: np.ndarray, keys: int) -> np.ndarray:
        """Return one key per query: the candidate with the lowest coverage-weighted distance."""
        missing = candidates < 0
        distances = np.where(missing, np.inf, distances)
        candidates = np.where(missing, 0, candidates)
        if distances.shape[1] == 1:
            return candidates[:, 0]

        # Each key's best distance to any query among the candidates found.
        best_for_key = np.full(keys, np.inf, dtype=np.float64)
        np.minimum.at(best_for_key, candidates.ravel(), distances.ravel())
        typical = float(np.median(distances[:, 0]))
        coverage = self.options.patch_coverage * typical + 1e-8
        scores = distances / (coverage + best_for_key[candidates])
        return candidates[np.arange(len(candidates)), np.argmin(scores, axis=1)]


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
