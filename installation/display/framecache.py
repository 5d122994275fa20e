"""Display-format surfaces made from BGRX pixels, and an LRU cache of them bounded in bytes."""

from __future__ import annotations

import collections
import logging
from typing import Callable, Hashable

import numpy as np
import pygame

log = logging.getLogger(__name__)


def surface_from_bgrx(pixels: np.ndarray, reuse: pygame.Surface | None = None) -> pygame.Surface:
    """Copy H x W x 4 BGRX pixels into a surface in the display's 32-bit format.

    The display surface's byte order is blue, green, red, unused, so this is one
    memory copy with no per-pixel conversion, and the surface blits without one too.
    `reuse`, a surface of the same size, is written over instead of allocating a new one.
    """
    height, width = pixels.shape[:2]
    if reuse is not None and reuse.get_size() == (width, height):
        surface = reuse
    else:
        surface = pygame.Surface((width, height), 0, 32, (0xFF0000, 0xFF00, 0xFF, 0))
    if surface.get_pitch() != width * 4:
        raise ValueError(f"unexpected surface pitch {surface.get_pitch()} for width {width}")
    surface.get_buffer().write(np.ascontiguousarray(pixels))
    return surface


def surface_bytes(surface: pygame.Surface) -> int:
    return surface.get_width() * surface.get_height() * surface.get_bytesize()


class FrameCache:
    """Surfaces by key, dropping the least recently used when over `budget_bytes`.

    `on_evict(key)` is called for each dropped key, so owners can forget it.
    """

    def __init__(self, budget_bytes: int, on_evict: Callable[[Hashable], None] | None = None):
        self.budget_bytes = budget_bytes
        self.on_evict = on_evict
        self._surfaces: collections.OrderedDict[Hashable, pygame.Surface] = collections.OrderedDict()
        self.used_bytes = 0

    def __contains__(self, key: Hashable) -> bool:
        return key in self._surfaces

    def __len__(self) -> int:
        return len(self._surfaces)

    def get(self, key: Hashable) -> pygame.Surface | None:
        """Return the surface stored under `key` and mark it recently used."""
        surface = self._surfaces.get(key)
        if surface is not None:
            self._surfaces.move_to_end(key)
        return surface

    def recycle(self, size: tuple[int, int]) -> pygame.Surface | None:
        """Take back the least recently used surface of `size` when a new one would exceed the budget.

        Reusing full-size surfaces keeps memory flat once the cache is full and
        saves allocating and clearing megabytes per frame. Returns None while
        there is room for a new surface or no surface of that size is cached.
        """
        if self.used_bytes + size[0] * size[1] * 4 <= self.budget_bytes:
            return None
        for key, surface in self._surfaces.items():
            if surface.get_size() == tuple(size):
                self.discard(key)
                if self.on_evict is not None:
                    self.on_evict(key)
                return surface
        return None

    def put(self, key: Hashable, surface: pygame.Surface) -> None:
        """Store a surface, then drop the oldest ones until the cache fits its budget."""
        self.discard(key)
        self._surfaces[key] = surface
        self.used_bytes += surface_bytes(surface)
        # The newest entry stays even when it alone exceeds the budget.
        while self.used_bytes > self.budget_bytes and len(self._surfaces) > 1:
            old_key, _ = next(iter(self._surfaces.items()))
            self.discard(old_key)
            if self.on_evict is not None:
                self.on_evict(old_key)

    def discard(self, key: Hashable) -> None:
        surface = self._surfaces.pop(key, None)
        if surface is not None:
            self.used_bytes -= surface_bytes(surface)

    def clear(self) -> None:
        self._surfaces.clear()
        self.used_bytes = 0
