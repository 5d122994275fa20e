"""Frame transport: raw video frames from the worker to the display through shared memory.

A `FrameRing` is one shared-memory file (under /dev/shm, mapped by both
processes) of `slots` frame buffers, each large
enough for a `max_width` x `max_height` frame of 4 bytes per pixel in the
display's byte order (blue, green, red, unused: the layout of a 32-bit SDL
display surface on a little-endian machine). A small header per slot records
whether the slot is free, being written or ready, and which frame it holds.

The display creates the ring and sends `spec()` in a job's params; the worker
attaches to it by name, writes each frame into a free slot and marks it ready.
The display looks for ready slots once per frame, copies each one into its own
surface and frees the slot. Frames are never pickled or sent through a queue,
so the only copy on the display's side is the one into the surface it draws.
"""

from __future__ import annotations

import logging
import mmap
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

log = logging.getLogger(__name__)

# A RAM-backed folder on Linux; elsewhere the system's temporary folder.
SHARED_FOLDER = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
FILE_PREFIX = "twoway-frames-"
FREE, WRITING, READY = 0, 1, 2
BYTES_PER_PIXEL = 4
HEADER = np.dtype([("state", "u1"), ("token", "<u4"), ("index", "<u4"),
                   ("width", "<u2"), ("height", "<u2")])


@dataclass(frozen=True)
class ReadyFrame:
    """A frame the writer finished: `pixels` is a view into the ring (height x width x 4)."""

    slot: int
    token: int
    index: int
    pixels: np.ndarray


class FrameRing:
    """Shared-memory slots of BGRX frames; see the module docstring for the protocol."""

    def __init__(self, path: Path, memory: mmap.mmap, slots: int, max_width: int,
                 max_height: int, owner: bool):
        self.path = path
        self.memory = memory
        self.slots = slots
        self.max_width = max_width
        self.max_height = max_height
        self.owner = owner
        header_bytes = HEADER.itemsize * slots
        self.headers = np.ndarray((slots,), HEADER, buffer=memory, offset=0)
        self._slot_bytes = max_width * max_height * BYTES_PER_PIXEL
        self._data_offset = _aligned(header_bytes)

    @classmethod
    def create(cls, slots: int, max_width: int, max_height: int) -> "FrameRing":
        """Allocate a new ring; the creator must call `close()` to release the memory."""
        if slots < 1 or max_width < 1 or max_height < 1:
            raise ValueError(f"a frame ring needs at least one slot of 1x1 pixels, got {slots} of "
                             f"{max_width}x{max_height}")
        remove_stale_rings()
        size = _aligned(HEADER.itemsize * slots) + slots * max_width * max_height * BYTES_PER_PIXEL
        path = SHARED_FOLDER / f"{FILE_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(descriptor, size)
            memory = mmap.mmap(descriptor, size)
        finally:
            os.close(descriptor)
        ring = cls(path, memory, slots, max_width, max_height, owner=True)
        ring.headers["state"] = FREE
        log.info("frame ring %s created: %d slots of %dx%d (%.0f MB)",
                 path, slots, max_width, max_height, size / 1e6)
        return ring

    @classmethod
    def attach(cls, spec: dict) -> "FrameRing":
        """Open a ring made by another process from its `spec()`."""
        path = Path(spec["path"])
        descriptor = os.open(path, os.O_RDWR)
        try:
            memory = mmap.mmap(descriptor, 0)
        finally:
            os.close(descriptor)
        return cls(path, memory, spec["slots"], spec["max_width"], spec["max_height"], owner=False)

    def spec(self) -> dict:
        """Return what another process needs to attach (picklable)."""
        return {"path": str(self.path), "slots": self.slots,
                "max_width": self.max_width, "max_height": self.max_height}

    def slot_pixels(self, slot: int, width: int, height: int) -> np.ndarray:
        """Return a height x width x 4 uint8 view of one slot's buffer."""
        offset = self._data_offset + slot * self._slot_bytes
        return np.ndarray((height, width, BYTES_PER_PIXEL), np.uint8, buffer=self.memory, offset=offset)

    # --- writer side (the worker) ----------------------------------------------------

    def write(self, token: int, index: int, rgb: np.ndarray,
              cancelled: Callable[[], bool] = lambda: False, timeout: float = 30.0) -> bool:
        """Copy an HxWx3 RGB frame into a free slot and mark it ready.

        Waits for the reader to free a slot, polling every 5 ms. Returns False,
        leaving the ring unchanged, when `cancelled()` turns true or `timeout`
        seconds pass first.
        """
        height, width = rgb.shape[:2]
        if width > self.max_width or height > self.max_height:
            raise ValueError(f"frame of {width}x{height} does not fit the ring's "
                             f"{self.max_width}x{self.max_height} slots")
        deadline = time.monotonic() + timeout
        slot = self._claim_free_slot()
        while slot is None:
            if cancelled() or time.monotonic() > deadline:
                return False
            time.sleep(0.005)
            slot = self._claim_free_slot()

        pixels = self.slot_pixels(slot, width, height)
        cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGRA, dst=pixels)
        header = self.headers[slot]
        header["token"], header["index"] = token, index
        header["width"], header["height"] = width, height
        # The state goes last, so the reader never sees a half-written frame as ready.
        self.headers["state"][slot] = READY
        return True

    def _claim_free_slot(self) -> int | None:
        # Only one writer uses a ring at a time (the worker runs one job at once),
        # so claiming needs no lock across processes.
        free = np.flatnonzero(self.headers["state"] == FREE)
        if not len(free):
            return None
        slot = int(free[0])
        self.headers["state"][slot] = WRITING
        return slot

    # --- reader side (the display) ---------------------------------------------------

    def ready(self) -> list[ReadyFrame]:
        """Return the frames marked ready; call `release(slot)` after copying each one."""
        frames = []
        for slot in np.flatnonzero(self.headers["state"] == READY):
            header = self.headers[slot]
            pixels = self.slot_pixels(int(slot), int(header["width"]), int(header["height"]))
            frames.append(ReadyFrame(int(slot), int(header["token"]), int(header["index"]), pixels))
        return frames

    def release(self, slot: int) -> None:
        self.headers["state"][slot] = FREE

    def reset(self) -> None:
        """Mark every slot free, dropping frames no reader will take (after a worker restart)."""
        self.headers["state"] = FREE

    def close(self) -> None:
        """Detach, and free the memory when this process created it."""
        # Views into the buffer must go before the mapping can be closed.
        del self.headers
        self.memory.close()
        if self.owner:
            self.path.unlink(missing_ok=True)
            log.info("frame ring %s released", self.path)


def remove_stale_rings() -> None:
    """Delete ring files left by display processes that no longer run (after a crash)."""
    for path in SHARED_FOLDER.glob(FILE_PREFIX + "*"):
        pid_text = path.name[len(FILE_PREFIX):].split("-")[0]
        if pid_text.isdigit() and not _process_exists(int(pid_text)):
            path.unlink(missing_ok=True)
            log.info("removed frame ring %s left by process %s", path, pid_text)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _aligned(size: int, alignment: int = 64) -> int:
    return (size + alignment - 1) // alignment * alignment


# --- geometry shared by the display and the morph renderer ---------------------------------

def fit_size(size: tuple[int, int], screen: tuple[int, int]) -> tuple[int, int]:
    """Return the largest (width, height) with the proportions of `size` that fits `screen`."""
    width, height = size
    scale = min(screen[0] / width, screen[1] / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def morph_box(size_a: tuple[int, int], size_b: tuple[int, int], screen: tuple[int, int]) -> tuple[int, int]:
    """Return the frame size of a morph: the smallest box holding both images fitted to `screen`."""
    fitted_a, fitted_b = fit_size(size_a, screen), fit_size(size_b, screen)
    return max(fitted_a[0], fitted_b[0]), max(fitted_a[1], fitted_b[1])


def letterbox(rgb: np.ndarray, box: tuple[int, int], background: tuple[int, int, int]) -> np.ndarray:
    """Scale an HxWx3 image to fit `box` (width, height) unstretched and centre it on `background`."""
    width, height = fit_size((rgb.shape[1], rgb.shape[0]), box)
    if (width, height) != (rgb.shape[1], rgb.shape[0]):
        shrinking = width < rgb.shape[1]
        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    if (width, height) == tuple(box):
        return np.ascontiguousarray(rgb)
    framed = np.empty((box[1], box[0], 3), np.uint8)
    framed[...] = background
    left, top = (box[0] - width) // 2, (box[1] - height) // 2
    framed[top:top + height, left:left + width] = rgb
    return framed
