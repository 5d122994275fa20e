"""The frame ring between processes, the frame pool and the walk order."""

import multiprocessing
import time

import numpy as np
import pygame
import pytest

from installation.display.framecache import FrameCopier, FramePool, surface_from_bgrx
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


def bgrx(value, size=(10, 10)):
    return np.full((size[1], size[0], 4), value, np.uint8)


def test_frame_pool_drops_least_recently_used():
    pygame.display.init()
    evicted = []
    pool = FramePool((10, 10), 3, on_evict=evicted.append)
    for key in "abc":
        pool.store(key, bgrx(1))
    pool.get("a")
    pool.store("d", bgrx(2))
    assert evicted == ["b"]
    assert "a" in pool
    assert "d" in pool
    assert len(pool) == 3


def test_frame_pool_serves_smaller_frames():
    pygame.display.init()
    pool = FramePool((10, 8), 1)
    pixels = bgrx(0, (6, 4))
    pixels[3, 5] = (10, 20, 30, 0)  # blue, green, red, unused
    frame = pool.store("a", pixels)
    assert frame.get_size() == (6, 4)
    assert tuple(frame.get_at((5, 3)))[:3] == (30, 20, 10)


def test_frame_pool_reuses_its_slots():
    pygame.display.init()
    pool = FramePool((10, 10), 2)
    first = pool.store("a", bgrx(1))
    pool.store("b", bgrx(2))
    third = pool.store("c", bgrx(3))
    assert third.get_parent() is first.get_parent()
    assert tuple(third.get_at((0, 0)))[:3] == (3, 3, 3)


def test_frame_pool_rejects_oversized_frames():
    pygame.display.init()
    pool = FramePool((10, 10), 1)
    with pytest.raises(ValueError, match="does not fit"):
        pool.store("a", bgrx(0, (11, 10)))


def test_copied_frame_served_after_collect():
    pygame.display.init()
    pool = FramePool((10, 10), 1)
    copier = FrameCopier(pool, "test-copier")
    try:
        copier.submit("a", bgrx(7))
        assert "a" not in pool
        assert copier.is_copying("a")
        results = copier.collect(wait=True)
    finally:
        copier.stop()
    assert results == [("a", "a", None)]
    assert tuple(pool.get("a").get_at((9, 9)))[:3] == (7, 7, 7)
    assert copier.pending == 0


def test_copier_reports_bad_frame():
    pygame.display.init()
    pool = FramePool((10, 10), 2)
    copier = FrameCopier(pool, "test-copier")
    try:
        copier.submit("big", bgrx(1, (11, 10)))
        copier.submit("ok", bgrx(2), tag="ok-tag")
        results = {key: (tag, error) for key, tag, error in copier.collect(wait=True)}
    finally:
        copier.stop()
    assert "does not fit" in str(results["big"][1])
    assert "big" not in pool
    assert results["ok"] == ("ok-tag", None)
    assert tuple(pool.get("ok").get_at((0, 0)))[:3] == (2, 2, 2)
    pool.store("c", bgrx(3))
    assert "ok" in pool  # the failed copy gave its slot back, so storing "c" evicted nothing


def test_morph_player_serves_copied_frames():
    from installation.config import load_settings
    from installation.display.morphs import MorphPlayer

    class Renderer:
        def submit(self, params, urgent):
            self.params = params
            return "job-1"

        def cancel(self, handle):
            pass

        def stop(self):
            pass

    pygame.display.init()
    settings = load_settings(overrides=["display.morph_frames=4"]).display
    player = MorphPlayer((32, 24), settings)
    renderer = Renderer()
    player.use(renderer)
    try:
        player.request(1, 2)
        for index in range(4):
            assert player.ring.write(renderer.params["token"], index, np.full((24, 32, 3), 40 * index, np.uint8))
        deadline = time.monotonic() + 10
        while not player.is_complete((1, 2)) and time.monotonic() < deadline:
            player.poll(limit=4)
            time.sleep(0.01)
        assert player.is_complete((1, 2))
        assert player.frames_received == 4
        assert tuple(player.cache.get(((1, 2), 3)).get_at((0, 0)))[:3] == (120, 120, 120)
        assert not player.ring.ready()  # every ring slot was given back
    finally:
        player.close()


def test_frame_pool_within_budget():
    pygame.display.init()
    assert FramePool.within(5 * 400, (10, 10), max_slots=100).capacity == 5
    assert FramePool.within(5 * 400, (10, 10), max_slots=3).capacity == 3
    assert FramePool.within(400, (10, 10), max_slots=100, min_slots=4).capacity == 4


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


def test_morphs_get_fewer_frames_when_memory_is_short():
    from installation.config import load_settings
    from installation.display.morphs import MorphPlayer

    pygame.display.init()
    settings = load_settings(overrides=["display.frame_cache_mb=64", "display.morph_frames=48"]).display
    player = MorphPlayer((1920, 1080), settings)
    try:
        assert player.frame_count < 48
        assert player.cache.capacity >= 2 * player.frame_count
    finally:
        player.close()


def test_big_blocks_go_back_to_the_system():
    from installation.display.window import return_big_blocks_to_system

    # The kiosk runs on Linux with glibc, which accepts the setting.
    assert return_big_blocks_to_system() is True
