"""The frame ring between processes, the frame cache's budget and the walk order."""

import multiprocessing

import numpy as np
import pygame
import pytest

from installation.display.framecache import FrameCache, surface_from_bgrx
from installation.display.genealogy import Genealogy
from installation.frames import FrameRing, fit_size, letterbox, morph_box
from installation.morph import coarse_to_fine_order


def write_frames(spec, count):
    ring = FrameRing.attach(spec)
    for index in range(count):
        frame = np.full((6, 8, 3), (index * 10, 100, 200), np.uint8)
        ring.write(token=7, index=index, rgb=frame, timeout=30)
    ring.close()


def test_ring_carries_frames_between_processes():
    ring = FrameRing.create(slots=2, max_width=8, max_height=6)
    try:
        writer = multiprocessing.get_context("spawn").Process(target=write_frames, args=(ring.spec(), 5))
        writer.start()
        received = {}
        while len(received) < 5:
            for ready in ring.ready():
                received[ready.index] = ready.pixels.copy()
                ring.release(ready.slot)
        writer.join(30)
    finally:
        ring.close()
    assert sorted(received) == [0, 1, 2, 3, 4]
    # BGRX bytes: blue, green, red, then 255.
    assert received[3][0, 0].tolist() == [200, 100, 30, 255]


def test_ring_write_gives_up_when_cancelled():
    ring = FrameRing.create(slots=1, max_width=4, max_height=4)
    try:
        first = ring.write(1, 0, np.zeros((4, 4, 3), np.uint8))
        second = ring.write(1, 1, np.zeros((4, 4, 3), np.uint8), cancelled=lambda: True)
    finally:
        ring.close()
    assert first
    assert not second


def test_ring_rejects_oversized_frame():
    ring = FrameRing.create(slots=1, max_width=4, max_height=4)
    try:
        with pytest.raises(ValueError, match="does not fit"):
            ring.write(1, 0, np.zeros((5, 4, 3), np.uint8))
    finally:
        ring.close()


def test_frame_cache_drops_least_recently_used():
    pygame.display.init()
    evicted = []
    surface = pygame.Surface((10, 10), 0, 32)
    cache = FrameCache(budget_bytes=3 * 400, on_evict=evicted.append)
    for key in "abc":
        cache.put(key, surface.copy())
    cache.get("a")
    cache.put("d", surface.copy())
    assert evicted == ["b"]
    assert "a" in cache
    assert cache.used_bytes == 3 * 400


def test_surface_from_bgrx_keeps_colours():
    pygame.display.init()
    pixels = np.zeros((2, 3, 4), np.uint8)
    pixels[1, 2] = (10, 20, 30, 255)  # blue, green, red, unused
    surface = surface_from_bgrx(pixels)
    assert tuple(surface.get_at((2, 1)))[:3] == (30, 20, 10)


def test_fit_size_keeps_proportions():
    assert fit_size((400, 800), (1920, 1080)) == (540, 1080)
    assert fit_size((1600, 900), (1920, 1080)) == (1920, 1080)
    assert morph_box((400, 800), (1600, 900), (1920, 1080)) == (1920, 1080)


def test_letterbox_centres_on_background():
    framed = letterbox(np.full((10, 20, 3), 200, np.uint8), (40, 40), (1, 2, 3))
    assert framed.shape == (40, 40, 3)
    assert framed[0, 0].tolist() == [1, 2, 3]
    assert framed[20, 20].tolist() == [200, 200, 200]


def test_coarse_to_fine_order_covers_every_frame():
    order = coarse_to_fine_order(9)
    assert order[:3] == [0, 8, 4]
    assert sorted(order) == list(range(9))


class FakeNode:
    def __init__(self, node_id, parents=(), hidden=False):
        self.id, self.parents, self.hidden = node_id, tuple(parents), hidden


def test_walk_order_depth_first_skipping_hidden():
    nodes = [FakeNode(1), FakeNode(2, [1]), FakeNode(3, [2], hidden=True), FakeNode(4, [3]), FakeNode(5, [1])]
    genealogy = Genealogy(nodes)
    assert genealogy.order == [1, 2, 4, 5]
    assert genealogy.next_of(5) == 1
    assert genealogy.previous_of(1) == 5


def test_frame_cache_recycles_when_full():
    pygame.display.init()
    cache = FrameCache(budget_bytes=2 * 400)
    first = pygame.Surface((10, 10), 0, 32)
    cache.put("a", first)
    cache.put("b", pygame.Surface((10, 10), 0, 32))
    recycled = cache.recycle((10, 10))
    assert recycled is first
    assert "a" not in cache
