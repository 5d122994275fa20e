"""Node images scaled once to the screen, as surfaces ready to blit."""

from __future__ import annotations

import logging

import pygame

from installation.display.framecache import FramePool

log = logging.getLogger(__name__)


class Stills:
    """The most recently used node images at screen size, loaded on first request.

    `get(node_id)` returns the surface, or None after asking the loader for it;
    the loop hands finished loads to `add`. The images live in a `FramePool`
    reserved at start, so loading new ones for weeks does not grow memory.
    """

    def __init__(self, loader, screen_size: tuple[int, int], capacity: int = 16):
        self.loader = loader
        self.screen_size = screen_size
        self.pool = FramePool(screen_size, capacity)
        self.failed: set[int] = set()

    def get(self, node_id: int | None) -> pygame.Surface | None:
        if node_id is None:
            return None
        surface = self.pool.get(node_id)
        if surface is not None:
            return surface
        if node_id not in self.failed:
            self.loader.request("still", (node_id, self.screen_size))
        return None

    def add(self, loaded) -> None:
        node_id = loaded.key[0]
        if loaded.error:
            self.failed.add(node_id)
            return
        try:
            self.pool.store(node_id, loaded.value)
        except ValueError as error:
            log.error("node %d: its image cannot be shown: %s", node_id, error)
            self.failed.add(node_id)

    def forget_failures(self) -> None:
        """Let images that failed to load be tried again (after the archive changed)."""
        self.failed.clear()
