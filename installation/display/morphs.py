"""Morph playback: requests morph frames, collects them from the frame ring, blends them.

Frames are rendered elsewhere (in the worker process, or in a local thread when
no worker runs) into a `FrameRing`. `MorphPlayer.poll` hands at most a few per
display frame to a `FrameCopier`, which writes them into a `FramePool` on its
own thread. `draw` shows the morph at any `t` by blending
the two nearest frames it has, with the stills of both nodes standing in for the
first and last frame, so a morph plays smoothly with any number of frames so far.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import queue
import threading
from pathlib import Path

import pygame

from installation.config import ArchiveSettings, DisplaySettings
from installation.display.blend import Blender
from installation.display.framecache import FrameCopier, FramePool
from installation.frames import FrameRing
from installation.priority import lower_priority

log = logging.getLogger(__name__)

RING_SLOTS = 4
MIN_FRAMES = 4  # frames of a morph when memory is short
RENDERER_NICE = 10  # added to the nice value of the thread that renders morphs when no worker runs


class WorkerMorphs:
    """Renders morphs as "morph" jobs in the worker process."""

    def __init__(self, worker):
        self.worker = worker

    def submit(self, params: dict, urgent: bool) -> str:
        from installation.jobs import Job, Priority

        return self.worker.submit(Job("morph", params, Priority.VISITOR if urgent else Priority.BACKGROUND))

    def cancel(self, handle: str) -> None:
        self.worker.cancel(handle)

    def stop(self) -> None:
        pass


class ThreadMorphs:
    """Renders morphs in a thread of the display process, for runs without a worker.

    OpenCV releases the interpreter lock while it computes flow and warps, so the
    loop keeps its frame rate on a machine with a core to spare.
    """

    def __init__(self, archive_folder: Path, archive_settings: ArchiveSettings, ring: FrameRing):
        self.archive_folder = archive_folder
        self.archive_settings = archive_settings
        self.ring = ring
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._cancelled: set[int] = set()
        self._counter = itertools.count(1)
        self._stopping = threading.Event()
        self.finished: queue.SimpleQueue = queue.SimpleQueue()  # handles of finished morphs
        self._thread = threading.Thread(target=self._run, name="morph-renderer", daemon=True)
        self._thread.start()
        log.info("morph renderer thread started (no worker process)")

    def submit(self, params: dict, urgent: bool) -> int:
        handle = next(self._counter)
        self._jobs.put((handle, params))
        return handle

    def cancel(self, handle: int) -> None:
        self._cancelled.add(handle)

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._jobs.put(None)
        self._thread.join(timeout)
        log.info("morph renderer thread stopped")

    def _run(self) -> None:
        from installation.archive import Archive
        from installation.morph import render_morph

        lower_priority(RENDERER_NICE)

        with Archive(self.archive_folder, self.archive_settings) as archive:
            while not self._stopping.is_set():
                item = self._jobs.get()
                if item is None:
                    break
                handle, params = item

                def cancelled(handle=handle) -> bool:
                    return self._stopping.is_set() or handle in self._cancelled

                try:
                    if not cancelled():
                        render_morph(archive, params, self.ring, lambda *args: None, cancelled)
                except Exception as error:  # a bad image must not end the thread
                    log.error("morph %s -> %s failed: %s", params["node_a"], params["node_b"], error)
                self._cancelled.discard(handle)
                self.finished.put(handle)


class MorphPlayer:
    """Morph frames by node pair, requested one morph at a time and blended on draw."""

    def __init__(self, screen_size: tuple[int, int], settings: DisplaySettings):
        self.screen_size = screen_size
        self.settings = settings
        self.ring = FrameRing.create(RING_SLOTS, screen_size[0], screen_size[1])
        # Room for the morph on screen, the next one and a visitor's; at least two short morphs.
        self.cache = FramePool.within(settings.frame_cache_mb * 2**20, screen_size, max_slots=3 * settings.morph_frames,
                                      min_slots=2 * MIN_FRAMES, on_evict=self._forget)
        # A morph whose frames cannot all stay in memory would be rendered again every time it is shown.
        self.frame_count = max(MIN_FRAMES, min(settings.morph_frames, self.cache.capacity // 2))
        if self.frame_count < settings.morph_frames:
            log.warning("display.frame_cache_mb fits only %d frames of %dx%d, so morphs get %d frames instead of %d; "
                        "raise it for smoother morphs",
                        self.cache.capacity, screen_size[0], screen_size[1], self.frame_count, settings.morph_frames)
        self.renderer = None
        self._indices: dict[tuple[int, int], list[int]] = {}  # sorted frame indices in the cache
        self._tokens = itertools.count(1)
        self._pair_of_token: dict[int, tuple[int, int]] = {}
        self._in_flight: tuple[int, object, tuple[int, int]] | None = None  # token, handle, pair
        self.frames_received = 0
        self.blender = Blender(screen_size, settings.background)
        self.copier = FrameCopier(self.cache, "morph-frame-copier")  # tags its copies by ring slot

    def use(self, renderer) -> None:
        self.renderer = renderer

    def request(self, node_a: int, node_b: int, urgent: bool = False) -> None:
        """Ask for the frames of a morph unless they are cached or already coming."""
        if node_a != node_b:
            self._request((node_a, node_b), urgent, breathe=False)

    def request_breath(self, node_id: int) -> None:
        """Ask for the frames of a node's idle motion, kept under the pair (node_id, node_id)."""
        self._request((node_id, node_id), urgent=False, breathe=True)

    def _request(self, pair: tuple[int, int], urgent: bool, breathe: bool) -> None:
        node_a, node_b = pair
        if self.renderer is None or self.is_complete(pair):
            return
        if self._in_flight is not None:
            if self._in_flight[2] == pair:
                return
            # One morph at a time: the newest request is the one about to be shown.
            self.renderer.cancel(self._in_flight[1])
            self._pair_of_token.pop(self._in_flight[0], None)
        token = next(self._tokens)
        params = {"node_a": node_a, "node_b": node_b, "frames": self.frame_count,
                  "screen": list(self.screen_size), "background": list(self.settings.background[:3]),
                  "work_side": self.settings.morph_work_side, "ring": self.ring.spec(), "token": token,
                  "breathe": breathe}
        handle = self.renderer.submit(params, urgent)
        self._pair_of_token[token] = pair
        # Tokens of old morphs are kept only as long as their last frames can still be in the ring.
        for old in [old for old in self._pair_of_token if old < token - RING_SLOTS * 2]:
            del self._pair_of_token[old]
        self._in_flight = (token, handle, pair)
        log.info("morph %d -> %d requested (job %s, token %d)", node_a, node_b, handle, token)

    def finished(self, handle) -> None:
        """Forget the morph in flight when its job (by id or handle) ended."""
        if self._in_flight is not None and self._in_flight[1] == handle:
            self._in_flight = None

    def reset_in_flight(self) -> None:
        """Forget the morph in flight and its frames in the ring, after a worker restart."""
        self._in_flight = None
        self._collect(wait=True)  # the ring's slots may not be reused while they are being copied
        self.ring.reset()

    def is_complete(self, pair: tuple[int, int]) -> bool:
        return len(self._indices.get(pair, ())) >= self.frame_count

    def poll(self, limit: int = 1) -> int:
        """Start copying up to `limit` ready frames from the ring into the cache; return how many copies ended.

        The copies run on the copier's thread, and a frame is served from the
        next poll after its copy ends. Frames of cancelled morphs are dropped. The
        rest wait in the ring for a later poll.
        """
        copied = self._collect()
        started = 0
        for ready in self.ring.ready():
            if self.copier.is_copying(ready.slot):
                continue
            pair = self._pair_of_token.get(ready.token)
            key = (pair, ready.index)
            if pair is None or key in self.cache:
                self.ring.release(ready.slot)
                continue
            if started >= limit:
                continue
            self.copier.submit(key, ready.pixels, tag=ready.slot)
            started += 1
        return copied

    def _collect(self, wait: bool = False) -> int:
        """Serve the frames whose copies ended and free their ring slots; return how many."""
        copied = 0
        for key, ring_slot, error in self.copier.collect(wait):
            self.ring.release(ring_slot)
            if error is not None:
                log.error("copying frame %d of morph %s into the cache failed: %s", key[1], key[0], error)
                continue
            pair, frame = key
            indices = self._indices.setdefault(pair, [])
            if frame not in indices:
                bisect.insort(indices, frame)
            copied += 1
        self.frames_received += copied
        return copied

    def _forget(self, key) -> None:
        pair, index = key
        indices = self._indices.get(pair)
        if indices and index in indices:
            indices.remove(index)
        if not indices:
            self._indices.pop(pair, None)

    def draw(self, screen: pygame.Surface, pair: tuple[int, int], t: float,
             still_a: pygame.Surface | None, still_b: pygame.Surface | None) -> bool:
        """Draw the morph at `t` (0 to 1) over the whole screen, blending the two nearest frames available.

        Returns False, drawing nothing, while neither a frame nor a still is available.
        """
        last = self.frame_count - 1
        position = min(max(t, 0.0), 1.0) * last
        indices = self._indices.get(pair, [])
        below = self._frame_at_or_below(pair, indices, position, still_a)
        above = self._frame_at_or_above(pair, indices, position, still_b, last)
        if below is None and above is None:
            return False
        if below is None or above is None or below[0] == above[0]:
            only = below or above
            self.blender.draw(screen, only[1], None, 0.0, pair, (only[0],))
            return True
        weight = (position - below[0]) / (above[0] - below[0])
        self.blender.draw(screen, below[1], above[1], weight, pair, (below[0], above[0]))
        return True

    def _frame_at_or_below(self, pair, indices, position, still):
        slot = bisect.bisect_right(indices, position) - 1
        if slot >= 0:
            return indices[slot], self.cache.get((pair, indices[slot]))
        return (0, still) if still is not None else None

    def _frame_at_or_above(self, pair, indices, position, still, last):
        slot = bisect.bisect_left(indices, position)
        if slot < len(indices):
            return indices[slot], self.cache.get((pair, indices[slot]))
        return (last, still) if still is not None else None

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.stop()
        self.copier.stop()
        self.cache.clear()
        self.ring.close()

