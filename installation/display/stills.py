"""Node images scaled once to the screen, as surfaces ready to blit."""

from __future__ import annotations

import collections
import logging

import pygame

from installation.display.framecache import surface_from_bgrx

log = logging.getLogger(__name__)


class Stills:
    """The most recently used node images at screen size, loaded on first request.

    `get(node_id)` returns the surface, or None after asking the loader for it;
    the loop hands finished loads to `add`.
    """

    def __init__(self, loader, screen_size: tuple[int, int], capacity: int = 16):
        self.loader = loader
        self.screen_size = screen_size
        self.capacity = capacity
        self._surfaces: collections.OrderedDict[int, pygame.Surface] = collections.OrderedDict()
        self.failed: set[int] = set()

    def get(self, node_id: int | None) -> pygame.Surface | None:
        if node_id is None:
            return None
        surface = self._surfaces.get(node_id)
        if surface is not None:
            self._surfaces.move_to_end(node_id)
            return surface
        if node_id not in self.failed:
            self.loader.request("still", (node_id, self.screen_size))
        return None

    def add(self, loaded) -> None:
        node_id = loaded.key[0]
        if loaded.error:
            self.failed.add(node_id)
            return
        self._surfaces[node_id] = surface_from_bgrx(loaded.value)
        self._surfaces.move_to_end(node_id)
        while len(self._surfaces) > self.capacity:
            self._surfaces.popitem(last=False)

    def forget_failures(self) -> None:
        """Let images that failed to load be tried again (after the archive changed)."""
        self.failed.clear()
