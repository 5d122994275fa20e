"""Nearest-neighbour search between image patches, for the patch network.

On the CPU an exact search over every pair of patches is far too slow: tens of
minutes for one 512 px image on two cores. So `FaissPatchIndex` reduces the
patches with PCA and searches an inverted-file index (faiss `IndexIVFFlat`).
It falls back to an exact flat index when there are few keys. On CUDA,
`TorchPatchIndex` searches exactly, with matrix products in chunks.

Both return, for each query, the `k` nearest keys and their squared distances.
"""

from __future__ import annotations

import math

import faiss
import numpy as np
import torch

EXACT_BELOW = 4096  # keys; smaller sets are searched exactly
PCA_SAMPLE = 20_000  # patches used to fit the PCA
CHUNK_ELEMENTS = 32_000_000  # floats in one chunk of the distance matrix on CUDA


class PatchProjection:
    """A PCA projection of patches (N x D float32) onto their `dims` directions of largest variance."""

    def __init__(self, patches: np.ndarray, dims: int, seed: int = 0, sample_size: int = PCA_SAMPLE):
        sample = _sample_rows(np.asarray(patches, dtype=np.float32), sample_size, seed)
        self.mean = sample.mean(axis=0)
        centred = sample - self.mean
        covariance = centred.T @ centred / max(len(centred) - 1, 1)
        _, vectors = np.linalg.eigh(covariance.astype(np.float64))
        # eigh sorts ascending; keep the `dims` directions of largest variance.
        dims = min(dims, patches.shape[1])
        self.basis = np.ascontiguousarray(vectors[:, ::-1][:, :dims], dtype=np.float32)

    def __call__(self, patches: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray((patches - self.mean) @ self.basis, dtype=np.float32)


class FaissPatchIndex:
    """An approximate index over key patches (N x D float32), searched on the CPU.

    `projection` lets several indexes share one PCA (the scales of one
    pyramid); without it a PCA to `dims` dimensions is fitted on the keys.
    The inverted lists come from k-means over `points_per_list` keys per list
    and `kmeans_iterations` iterations; fewer build faster but spread keys
    over the lists less evenly.
    """

    def __init__(self, keys: np.ndarray, dims: int, probes: int = 3, seed: int = 0,
                 projection: PatchProjection | None = None,
                 points_per_list: int = 32, kmeans_iterations: int = 8):
        keys = np.ascontiguousarray(keys, dtype=np.float32)
        self.count = keys.shape[0]
        self.project = projection or PatchProjection(keys, dims, seed)
        reduced = self.project(keys)

        if self.count < EXACT_BELOW:
            self.index = faiss.IndexFlatL2(reduced.shape[1])
        else:
            # Scanning costs about lists + probes * count / lists distances per query,
            # which is least at lists = sqrt(probes * count).
            lists = int(math.sqrt(probes * self.count))
            quantizer = faiss.IndexFlatL2(reduced.shape[1])
            self.index = faiss.IndexIVFFlat(quantizer, reduced.shape[1], lists)
            # A seeded subsample keeps k-means, and so the search, the same for a seed.
            sample = _sample_rows(reduced, lists * points_per_list, seed)
            self.index.cp.seed = seed
            self.index.cp.niter = kmeans_iterations
            self.index.cp.min_points_per_centroid = points_per_list
            self.index.train(sample)
            self.index.nprobe = probes
        self.index.add(reduced)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (distances, indices), each queries x k; indices are -1 where fewer than k were found."""
        k = min(k, self.count)
        return self.index.search(self.project(np.asarray(queries, dtype=np.float32)), k)


class TorchPatchIndex:
    """An exact index over key patches (N x D), searched with torch on the keys' device."""

    def __init__(self, keys: torch.Tensor):
        self.keys = keys.float()
        self.count = keys.shape[0]
        self.key_norms = (self.keys * self.keys).sum(dim=1)

    def search(self, queries: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self.count)
        queries = queries.float()
        rows = max(1, CHUNK_ELEMENTS // self.count)
        distances, indices = [], []
        for start in range(0, queries.shape[0], rows):
            chunk = queries[start:start + rows]
            # |q - k|^2 = |q|^2 - 2 q.k + |k|^2, one chunk of queries at a time.
            squared = (chunk * chunk).sum(dim=1, keepdim=True) - 2 * chunk @ self.keys.T + self.key_norms
            best, where = torch.topk(squared, k, dim=1, largest=False)
            distances.append(best.clamp_min_(0))
            indices.append(where)
        return torch.cat(distances).cpu().numpy(), torch.cat(indices).cpu().numpy()


def _sample_rows(rows: np.ndarray, count: int, seed: int) -> np.ndarray:
    if rows.shape[0] <= count:
        return rows
    chosen = np.random.default_rng(seed).choice(rows.shape[0], size=count, replace=False)
    return rows[np.sort(chosen)]
