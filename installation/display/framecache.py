"""Display-format surfaces made from BGRX pixels, and a pool of frames in memory reserved at start."""

from __future__ import annotations

import collections
import logging
import queue
import threading
from typing import Callable, Hashable

import numpy as np
import pygame

log = logging.getLogger(__name__)

BGRX_MASKS = (0xFF0000, 0xFF00, 0xFF, 0)  # the display's 32-bit format: blue, green, red, unused in memory


def surface_from_bgrx(pixels: np.ndarray) -> pygame.Surface:
    """Copy H x W x 4 BGRX pixels into a new surface in the display's 32-bit format.

    The display surface's byte order is blue, green, red, unused, so this is one
    memory copy with no per-pixel conversion, and the surface blits without one too.
    """
    height, width = pixels.shape[:2]
    surface = pygame.Surface((width, height), 0, 32, BGRX_MASKS)
    if surface.get_pitch() != width * 4:
        raise ValueError(f"unexpected surface pitch {surface.get_pitch()} for width {width}")
    surface.get_buffer().write(np.ascontiguousarray(pixels))
    return surface


def write_bgrx(target: pygame.Surface, pixels: np.ndarray) -> pygame.Surface:
    """Copy H x W x 4 BGRX pixels into the top-left corner of `target` (display format, any pitch).

    Returns the subsurface the pixels cover. Writing into surfaces made once
    spares the display a fresh allocation, and its page faults, for every image.
    """
    height, width = pixels.shape[:2]
    if pixels.ndim != 3 or pixels.shape[2] != 4 or pixels.dtype != np.uint8:
        raise ValueError(f"expected H x W x 4 uint8 pixels, got {pixels.shape} {pixels.dtype}")
    if width > target.get_width() or height > target.get_height():
        raise ValueError(f"a {width}x{height} image does not fit {target.get_width()}x{target.get_height()}")
    rows = np.frombuffer(target.get_buffer(), np.uint8).reshape(target.get_height(), target.get_pitch())
    # Assigned through a view of the same shape: reshaping strided pixels (a frame in a wider
    # ring slot) would first copy them into a new array, and its page faults cost milliseconds.
    rows[:height, :width * 4].reshape(height, width, 4)[...] = pixels
    del rows  # the buffer keeps the surface locked while it lives
    return target.subsurface((0, 0, width, height))


class FramePool:
    """Frames by key, kept in screen-size surfaces that are all reserved when the pool is made.

    The memory for morph frames is taken once, at start, and touched, so the
    display's memory stays flat for weeks instead of growing as frames arrive.
    A frame of any size up to the slot size is copied into the top-left corner
    of a slot and served as a subsurface of it. When every slot is in use, the
    least recently used frame gives up its slot. `on_evict(key)` is called for
    each frame dropped that way, so owners can forget it.
    """

    def __init__(self, slot_size: tuple[int, int], slots: int,
                 on_evict: Callable[[Hashable], None] | None = None):
        self.slot_size = (int(slot_size[0]), int(slot_size[1]))
        self.on_evict = on_evict
        self._slots = []
        for _ in range(max(1, slots)):
            slot = pygame.Surface(self.slot_size, 0, 32, BGRX_MASKS)
            slot.fill((0, 0, 0))  # writes every page, so the memory is resident from the start
            self._slots.append(slot)
        self._free = list(range(len(self._slots)))
        self._frames: collections.OrderedDict[Hashable, tuple[int, pygame.Surface]] = collections.OrderedDict()

    @classmethod
    def within(cls, budget_bytes: int, slot_size: tuple[int, int], max_slots: int, min_slots: int = 1,
               on_evict: Callable[[Hashable], None] | None = None) -> "FramePool":
        """Make a pool with as many slots as `budget_bytes` fits, from `min_slots` to `max_slots`."""
        slot_bytes = slot_size[0] * slot_size[1] * 4
        slots = min(max_slots, budget_bytes // slot_bytes)
        if slots < min_slots:
            log.warning("a frame budget of %d MB fits only %d frames of %dx%d; reserving %d (%d MB) instead",
                        budget_bytes // 2**20, slots, slot_size[0], slot_size[1], min_slots,
                        min_slots * slot_bytes // 2**20)
            slots = min_slots
        return cls(slot_size, slots, on_evict)

    @property
    def capacity(self) -> int:
        return len(self._slots)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._frames

    def __len__(self) -> int:
        return len(self._frames)

    def get(self, key: Hashable) -> pygame.Surface | None:
        """Return the frame stored under `key` and mark it recently used."""
        entry = self._frames.get(key)
        if entry is None:
            return None
        self._frames.move_to_end(key)
        return entry[1]

    def store(self, key: Hashable, pixels: np.ndarray) -> pygame.Surface:
        """Copy H x W x 4 BGRX `pixels` into a slot and return the frame's surface."""
        index, slot = self.reserve(key)
        try:
            surface = write_bgrx(slot, pixels)
        except ValueError:
            self.unreserve(index)
            raise
        self.publish(key, index, surface)
        return surface

    def reserve(self, key: Hashable) -> tuple[int, pygame.Surface]:
        """Take a slot for `key`, which is not served until `publish`; return its number and surface.

        The frame stored under `key` before, if any, is dropped and its slot reused.
        A reserved slot is never given up for another frame, so it can be written
        outside the display thread.
        """
        entry = self._frames.pop(key, None)
        index = entry[0] if entry is not None else self._take_slot()
        return index, self._slots[index]

    def publish(self, key: Hashable, index: int, surface: pygame.Surface) -> None:
        """Serve `surface`, written into the slot `reserve` gave, as the frame of `key`."""
        self._frames[key] = (index, surface)

    def unreserve(self, index: int) -> None:
        """Give back a reserved slot whose frame could not be written."""
        self._free.append(index)

    def _take_slot(self) -> int:
        if self._free:
            return self._free.pop()
        old_key, (index, _) = self._frames.popitem(last=False)
        if self.on_evict is not None:
            self.on_evict(old_key)
        return index

    def discard(self, key: Hashable) -> None:
        entry = self._frames.pop(key, None)
        if entry is not None:
            self._free.append(entry[0])

    def clear(self) -> None:
        self._frames.clear()
        self._free = list(range(len(self._slots)))


class FrameCopier:
    """Copies frames into slots of one `FramePool` on a thread of its own.

    NumPy releases the interpreter lock while it copies, so copying a
    full-screen frame (about a millisecond at 1080p on the two-core development
    machine) runs on another core while the display thread draws. `submit`
    reserves a slot and hands over the copy. `collect`, called from the display
    thread, publishes the copies that ended.
    """

    def __init__(self, pool: FramePool, name: str):
        self.pool = pool
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._copying: dict[Hashable, tuple[Hashable, int]] = {}  # tag -> (key, slot); display thread only
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        return len(self._copying)

    def is_copying(self, tag: Hashable) -> bool:
        return tag in self._copying

    def submit(self, key: Hashable, pixels: np.ndarray, tag: Hashable | None = None) -> None:
        """Copy BGRX `pixels` into a slot reserved for `key`; `collect` reports it under `tag` (default `key`)."""
        tag = key if tag is None else tag
        index, slot = self.pool.reserve(key)
        self._copying[tag] = (key, index)
        self._jobs.put((tag, slot, pixels))

    def collect(self, wait: bool = False) -> list[tuple[Hashable, Hashable, Exception | None]]:
        """Publish the copies that ended and return (key, tag, error) for each; with `wait`, wait for all.

        A copy that failed gives its slot back and leaves `key` without a frame.
        """
        results = []
        while self._copying:
            try:
                tag, surface, error = self._done.get(block=wait, timeout=5.0 if wait else None)
            except queue.Empty:
                break
            key, index = self._copying.pop(tag)
            if error is None:
                self.pool.publish(key, index, surface)
            else:
                self.pool.unreserve(index)
            results.append((key, tag, error))
        return results

    def stop(self, timeout: float = 5.0) -> None:
        self._jobs.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            tag, target, pixels = job
            try:
                self._done.put((tag, write_bgrx(target, pixels), None))
            except Exception as error:  # a malformed frame must not end the thread
                self._done.put((tag, None, error))
