"""Node images scaled once to the screen, as surfaces ready to blit."""

from __future__ import annotations

import logging

import pygame

from installation.display.framecache import FrameCopier, FramePool

log = logging.getLogger(__name__)


class Stills:
    """The most recently used node images at screen size, loaded on first request.

    `get(node_id)` returns the surface, or None after asking the loader for it;
    the loop hands finished loads to `add`, which copies them on a thread of
    its own, and calls `poll` every frame to serve the copies that ended. The
    images live in a `FramePool` reserved at start, so loading new ones for
    weeks does not grow memory.
    """

    def __init__(self, loader, screen_size: tuple[int, int], capacity: int = 16):
        self.loader = loader
        self.screen_size = screen_size
        self.pool = FramePool(screen_size, capacity)
        self.failed: set[int] = set()
        self.copier = FrameCopier(self.pool, "still-copier")

    def get(self, node_id: int | None) -> pygame.Surface | None:
        if node_id is None:
            return None
        surface = self.pool.get(node_id)
        if surface is not None:
            return surface
        if node_id not in self.failed and not self.copier.is_copying(node_id):
            self.loader.request("still", (node_id, self.screen_size))
        return None

    def add(self, loaded) -> None:
        node_id = loaded.key[0]
        if loaded.error:
            self.failed.add(node_id)
            return
        if not self.copier.is_copying(node_id):
            self.copier.submit(node_id, loaded.value)

    def poll(self, wait: bool = False) -> int:
        """Serve the images whose copies ended; return how many. With `wait`, wait for all of them."""
        served = 0
        for node_id, _, error in self.copier.collect(wait):
            if error is not None:
                log.error("node %d: its image cannot be shown: %s", node_id, error)
                self.failed.add(node_id)
                continue
            served += 1
        return served

    def close(self) -> None:
        self.copier.stop()

    def forget_failures(self) -> None:
        """Let images that failed to load be tried again (after the archive changed)."""
        self.failed.clear()
