"""The disk guard: pause generation and capture before the archive's disk fills up.

A thread looks at the free space every `disk.check_interval_s`. Below
`disk.pause_below_mb` it sets `paused` and puts a message on the status overlay
(`StateBoard.last_error`, which the OSC feedback also sends). It resumes once free
space is `resume_margin_mb` above the floor, so a disk hovering at the limit does
not flap. The archive refuses writes below `archive.min_free_mb` on its own; the
guard stops new work earlier, so no job starts that would be refused halfway.
"""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path
from typing import Callable

from installation.config import DiskSettings
from installation.state import StateBoard
from installation.texts import Texts

log = logging.getLogger(__name__)


class DiskGuard:
    """Free-space watch on `folder`; `paused` is True while generation and capture must wait."""

    def __init__(self, settings: DiskSettings, folder: Path, board: StateBoard | None = None,
                 texts: Texts | None = None, free_bytes: Callable[[Path], int] | None = None):
        self.settings = settings
        self.folder = Path(folder)
        self.board = board
        self.texts = texts or Texts("en")
        self.free_bytes = free_bytes or (lambda path: shutil.disk_usage(path).free)
        self.free_mb: int | None = None
        self._paused = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._message = ""

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def start(self) -> None:
        self.check()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="disk-guard", daemon=True)
        self._thread.start()
        log.info("disk guard started on %s: pause below %d MB", self.folder, self.settings.pause_below_mb)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        log.info("disk guard stopped")

    def _run(self) -> None:
        while not self._stop.wait(self.settings.check_interval_s):
            self.check()

    def check(self) -> bool:
        """Look at the free space once, pause or resume, and return whether paused."""
        try:
            free_mb = self.free_bytes(self.folder) // 2**20
        except OSError as error:
            log.error("disk guard cannot read free space of %s: %s", self.folder, error)
            return self.paused
        self.free_mb = free_mb

        floor = self.settings.pause_below_mb
        if not self.paused and free_mb < floor:
            self._paused.set()
            self._message = self.texts("ops.disk_paused", free_mb=free_mb, pause_mb=floor)
            log.warning("disk guard: %d MB free on %s, below %d MB; generation and capture paused",
                        free_mb, self.folder, floor)
            self._show(self._message)
        elif self.paused and free_mb >= floor + self.settings.resume_margin_mb:
            self._paused.clear()
            log.info("disk guard: %d MB free on %s; generation and capture resume", free_mb, self.folder)
            self._clear_message()
        return self.paused

    def _show(self, message: str) -> None:
        if self.board is not None:
            self.board.update(last_error=message)

    def _clear_message(self) -> None:
        # Clear the overlay only if it still shows this guard's message, not a newer error.
        if self.board is not None and self.board.snapshot()[0].last_error == self._message:
            self.board.update(last_error="")
        self._message = ""
