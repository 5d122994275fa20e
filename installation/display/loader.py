"""A background thread that reads the archive for the display loop.

The loop must never wait on the disk, so every archive read or write it needs
goes through `ArchiveLoader.request(...)`, which only queues it, and results
come back through `results()`, which never blocks. The thread opens its own
`Archive` on the same folder.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from installation.config import ArchiveSettings
from installation.frames import fit_size
from installation.priority import lower_priority
from installation.texts import TwowayError

log = logging.getLogger(__name__)

LOADER_NICE = 10  # added to the loader thread's nice value


@dataclass(frozen=True)
class Loaded:
    """One finished request: `kind` as requested, `key` identifies it, `value` or `error`."""

    kind: str
    key: Any
    value: Any = None
    error: str = ""


class ArchiveLoader:
    """Reads nodes, images and thumbnails and applies curation, off the display loop.

    Requests:
      ("nodes", None)                      -> list of every Node
      ("still", (node_id, (w, h)))         -> BGRX pixels (H x W x 4 uint8) fitted to w x h
      ("thumbnail", (node_id, side))       -> BGRX pixels at most side x side
      ("flag", (node_id, flag, value))     -> the updated Node
      ("title", (node_id, text))           -> the updated Node
    """

    def __init__(self, folder: Path, settings: ArchiveSettings):
        self.folder = Path(folder)
        self.settings = settings
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._results: queue.SimpleQueue = queue.SimpleQueue()
        self._pending: set = set()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="archive-loader", daemon=True)
        self._thread.start()
        log.info("archive loader started on %s", self.folder)

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            return
        self._requests.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("archive loader did not stop within %.1f s", timeout)
        else:
            log.info("archive loader stopped")
        self._thread = None

    def request(self, kind: str, key: Any = None) -> None:
        """Queue a request unless the same one is already waiting."""
        if (kind, key) in self._pending:
            return
        self._pending.add((kind, key))
        self._requests.put((kind, key))

    def is_pending(self, kind: str, key: Any = None) -> bool:
        return (kind, key) in self._pending

    def has_pending(self, kind: str) -> bool:
        """Return whether any request of `kind` is still waiting or running."""
        return any(pending_kind == kind for pending_kind, _ in self._pending)

    def results(self, limit: int = 8) -> list[Loaded]:
        """Return up to `limit` finished requests without waiting."""
        finished = []
        while len(finished) < limit:
            try:
                item = self._results.get_nowait()
            except queue.Empty:
                break
            self._pending.discard((item.kind, item.key))
            finished.append(item)
        return finished

    def _run(self) -> None:
        from installation.archive import Archive

        # Decoding and scaling images must not take a core from the display loop mid-frame.
        lower_priority(LOADER_NICE)

        try:
            archive = Archive(self.folder, self.settings)
        except TwowayError as error:
            log.error("archive loader cannot open %s: %s", self.folder, error)
            self._fail_all(str(error))
            return
        try:
            while True:
                item = self._requests.get()
                if item is None:
                    break
                kind, key = item
                self._results.put(self._serve(archive, kind, key))
        finally:
            archive.close()

    def _fail_all(self, reason: str) -> None:
        while True:
            item = self._requests.get()
            if item is None:
                return
            self._results.put(Loaded(item[0], item[1], error=reason))

    def _serve(self, archive, kind: str, key: Any) -> Loaded:
        try:
            return Loaded(kind, key, self._handle(archive, kind, key))
        except (TwowayError, OSError, ValueError, cv2.error) as error:
            log.warning("archive loader: %s %r failed: %s", kind, key, error)
            return Loaded(kind, key, error=str(error))

    def _handle(self, archive, kind: str, key: Any) -> Any:
        if kind == "nodes":
            return archive.nodes(include_hidden=True)
        if kind == "still":
            node_id, screen = key
            node = archive.node(node_id)
            return to_bgrx(np.asarray(archive.load_image(node)), fit_size((node.width, node.height), screen))
        if kind == "thumbnail":
            node_id, side = key
            node = archive.node(node_id)
            from PIL import Image

            with Image.open(archive.thumbnail(node, max(side, self.settings.thumbnail_side))) as image:
                rgb = np.asarray(image.convert("RGB"))
            return to_bgrx(rgb, fit_size((rgb.shape[1], rgb.shape[0]), (side, side)))
        if kind == "flag":
            node_id, flag, value = key
            return archive.set_flag(node_id, flag, value)
        if kind == "title":
            node_id, text = key
            return archive.set_title(node_id, text)
        raise ValueError(f"unknown loader request {kind!r}")


def to_bgrx(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale an RGB image to `size` (width, height) and reorder it to the display's BGRX bytes."""
    if (rgb.shape[1], rgb.shape[0]) != size:
        shrinking = size[0] < rgb.shape[1]
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGRA)
