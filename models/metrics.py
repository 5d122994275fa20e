"""Quality measures for generated children, computed without any pretrained network.

- `sliced_wasserstein`: how far the patch statistics of one image are from
  another's. Both images are split into Laplacian pyramids. At each scale,
  7x7 patches are projected onto random directions and the sorted projections
  are compared. This is the sliced Wasserstein distance that Karras et al.
  used to evaluate GANs ("Progressive Growing of GANs", ICLR 2018). Lower is nearer.
- `nearness`: the patch SWD from each child to its parent, and from the
  nearest other painting to that parent. The quality target requires the
  worst child to be at least twice as near as that painting.
- `pixel_diversity`: per-pixel standard deviation across several children,
  divided by the parent's own pixel standard deviation. 0 means every child is
  the same image.
- `largest_copy`: the largest connected region of a child copied verbatim
  from the parent (the same offset everywhere in it), as a fraction of the
  child's area.

All functions take HxWx3 uint8 arrays. The parent is scaled to the child's size
where sizes differ.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

PATCH = 7  # pixels, side of the patches compared
SWD_MIN_SIDE = 16  # pixels; the Laplacian pyramid stops above this size
SWD_PATCHES = 16_384  # patches sampled per image and scale
SWD_PROJECTIONS = 128
COPY_TOLERANCE = 3.0 / 255  # root-mean-square difference under which a patch counts as copied


def sliced_wasserstein(image: np.ndarray, reference: np.ndarray, levels: int = 4,
                       seed: int = 0) -> float:
    """Return the patch sliced Wasserstein distance between two images, averaged over scales (x 1000)."""
    image = image.astype(np.float32) / 255
    reference = reference.astype(np.float32) / 255
    rng = np.random.default_rng(seed)
    distances = []
    for level_a, level_b in zip(_laplacian_pyramid(image, levels), _laplacian_pyramid(reference, levels)):
        patches_a = _sample_patches(level_a, SWD_PATCHES, rng)
        patches_b = _sample_patches(level_b, SWD_PATCHES, rng)
        count = min(len(patches_a), len(patches_b))
        directions = rng.standard_normal((patches_a.shape[1], SWD_PROJECTIONS)).astype(np.float32)
        directions /= np.linalg.norm(directions, axis=0, keepdims=True)

        # Project, sort and compare the two distributions quantile by quantile.
        projected_a = np.sort(patches_a @ directions, axis=0)
        projected_b = np.sort(patches_b @ directions, axis=0)
        quantiles = np.linspace(0, 1, count)
        sorted_a = _resample_sorted(projected_a, quantiles)
        sorted_b = _resample_sorted(projected_b, quantiles)
        distances.append(float(np.abs(sorted_a - sorted_b).mean()))
    return 1000 * float(np.mean(distances))


def nearness(children: Sequence[np.ndarray], parent: np.ndarray,
             others: Sequence[np.ndarray]) -> tuple[list[float], float]:
    """Return the SWD of each child to `parent` and the smallest SWD of another painting to `parent`.

    Everything is compared at the children's size: the parent scaled to it, and
    each other painting scaled to the same long side, its aspect kept.
    """
    height, width = children[0].shape[:2]
    parent = _match_size(parent, (height, width))
    to_parent = [sliced_wasserstein(child, parent) for child in children]
    nearest = float("inf")
    for other in others:
        scale = max(height, width) / max(other.shape[:2])
        size = (max(1, round(other.shape[0] * scale)), max(1, round(other.shape[1] * scale)))
        nearest = min(nearest, sliced_wasserstein(_match_size(other, size), parent))
    return to_parent, nearest


def _laplacian_pyramid(image: np.ndarray, levels: int) -> list[np.ndarray]:
    pyramid = []
    current = image
    for _ in range(levels - 1):
        if min(current.shape[:2]) // 2 < SWD_MIN_SIDE:
            break
        smaller = cv2.pyrDown(current)
        expanded = cv2.pyrUp(smaller, dstsize=(current.shape[1], current.shape[0]))
        pyramid.append(current - expanded)
        current = smaller
    pyramid.append(current)
    return pyramid


def _sample_patches(image: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    windows = np.lib.stride_tricks.sliding_window_view(image, (PATCH, PATCH), axis=(0, 1))
    rows, columns = windows.shape[:2]
    total = rows * columns
    chosen = rng.choice(total, size=min(count, total), replace=False)
    picked = windows[chosen // columns, chosen % columns].reshape(len(chosen), -1)
    return np.ascontiguousarray(picked, dtype=np.float32)


def _resample_sorted(values: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    positions = np.linspace(0, 1, len(values))
    return np.stack([np.interp(quantiles, positions, values[:, column])
                     for column in range(values.shape[1])], axis=1)


def pixel_diversity(children: Sequence[np.ndarray], parent: np.ndarray) -> float:
    """Return the mean per-pixel standard deviation across children over the parent's pixel standard deviation."""
    stack = np.stack([child.astype(np.float32) for child in children])
    parent = _match_size(parent, stack.shape[1:3]).astype(np.float32)
    spread = stack.std(axis=0).mean()
    return float(spread / max(parent.reshape(-1, 3).std(axis=0).mean(), 1e-6))


def largest_copy(child: np.ndarray, parent: np.ndarray) -> float:
    """Return the area of the largest region of `child` copied verbatim from `parent`, over the child's area.

    Each child patch is matched to its nearest parent patch (approximate
    search) and counts as copied when the two differ by less than
    COPY_TOLERANCE. Copied patches with the same offset that touch form one
    region.
    """
    from models.patch_search import FaissPatchIndex

    parent = _match_size(parent, child.shape[:2])
    child_patches = _all_patches(child)
    parent_patches = _all_patches(parent)
    index = FaissPatchIndex(parent_patches, dims=32, probes=8)
    _, nearest = index.search(child_patches, 1)
    nearest = np.maximum(nearest[:, 0], 0)

    # Real difference of each child patch to the parent patch found for it.
    difference = np.sqrt(((child_patches - parent_patches[nearest]) ** 2).mean(axis=1))
    rows, columns = child.shape[0] - PATCH + 1, child.shape[1] - PATCH + 1
    copied = (difference < COPY_TOLERANCE).reshape(rows, columns)
    grid = np.arange(rows * columns)
    offset_rows = (nearest // columns - grid // columns).reshape(rows, columns)
    offset_columns = (nearest % columns - grid % columns).reshape(rows, columns)
    offsets = offset_rows * (2 * columns + 1) + offset_columns

    return _largest_region(copied, offsets) / (child.shape[0] * child.shape[1])


def _largest_region(copied: np.ndarray, offsets: np.ndarray) -> int:
    """Return the pixel area of the largest connected set of copied patches sharing one offset."""
    values, counts = np.unique(offsets[copied], return_counts=True)
    best = 0
    kernel = np.ones((PATCH, PATCH), np.uint8)
    height, width = copied.shape[0] + PATCH - 1, copied.shape[1] + PATCH - 1
    for value, count in sorted(zip(values, counts), key=lambda pair: -pair[1]):
        # A region of n patch positions covers at most n * PATCH^2 pixels.
        if count * PATCH * PATCH <= best:
            break
        mask = np.zeros((height, width), np.uint8)
        mask[:copied.shape[0], :copied.shape[1]] = copied & (offsets == value)
        # Grow each patch's top-left corner into the whole patch it covers.
        covered = cv2.dilate(mask, kernel, anchor=(PATCH - 1, PATCH - 1))
        _, _, stats, _ = cv2.connectedComponentsWithStats(covered, connectivity=8)
        if len(stats) > 1:
            best = max(best, int(stats[1:, cv2.CC_STAT_AREA].max()))
    return best


def _all_patches(image: np.ndarray) -> np.ndarray:
    windows = np.lib.stride_tricks.sliding_window_view(image, (PATCH, PATCH), axis=(0, 1))
    return windows.reshape(-1, 3 * PATCH * PATCH).astype(np.float32) / 255


def _match_size(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if image.shape[:2] == tuple(size):
        return image
    interpolation = cv2.INTER_AREA if size[0] < image.shape[0] else cv2.INTER_CUBIC
    return cv2.resize(image, (size[1], size[0]), interpolation=interpolation)
