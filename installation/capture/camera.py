"""The camera feed: a thread that reads frames, finds the canvas and recovers by itself.

Only the newest frame is kept, so nothing stale is shown or captured, and
`latest()` returns at once (it holds a lock only to copy three references). A source that fails to open, stops delivering frames,
or delivers the same frame for `frozen_after_s` is closed and reopened with a
growing back-off; each step is logged, and the state ("none", "opening", "ok",
"lost", "frozen") is written to the kiosk's StateBoard for the status overlay
and the OSC feedback.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from installation.capture.canvas import Detection, detect_canvas
from installation.capture.rectify import order_corners
from installation.capture.sources import SourceError, open_source
from installation.config import CaptureSettings
from installation.logs import RateLimitedLog
from installation.state import StateBoard

log = logging.getLogger(__name__)

STATES = ("none", "opening", "ok", "lost", "frozen")

# Called in the feed's thread with each frame that was searched for the canvas.
FrameObserver = Callable[[np.ndarray, Detection, float], None]


class CameraFeed:
    """Read a camera (or its stand-in) in a thread, and find the canvas in its frames."""

    def __init__(self, settings: CaptureSettings, board: StateBoard | None = None,
                 base: Path | None = None, source_factory: Callable[[int], object] | None = None,
                 session=None):
        self.settings = settings
        self.board = board
        self.session = session  # a CaptureSession that stores settled pictures, or None
        self.base = base or Path.cwd()
        self._source_factory = source_factory or (lambda attempt: open_source(settings, self.base, attempt))
        self._observers: list[FrameObserver] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._frame: np.ndarray | None = None
        self._frame_time = 0.0
        self._detection = Detection(None, 0.0, "not searched yet")
        self._state = "none"
        self._rate_limited = RateLimitedLog(log, interval=30.0)
        self.not_applied: list[str] = []  # settings the camera backend refused
        if session is not None:
            self.add_observer(session.observe)

    # --- the display's side --------------------------------------------------------

    def latest(self) -> tuple[np.ndarray | None, np.ndarray | None, float]:
        """Return the newest frame (RGB), the canvas corners found in it (or None) and its time."""
        with self._lock:
            return self._frame, self._detection.corners, self._frame_time

    @property
    def detection(self) -> Detection:
        with self._lock:
            return self._detection

    @property
    def state(self) -> str:
        return self._state

    def request_capture(self, parent_id: int | None = None) -> None:
        """Store the next settled picture of the canvas (the Capture command)."""
        if self.session is None:
            log.warning("capture requested, but this camera feed stores no pictures")
            return
        self.session.request_capture(parent_id)

    def add_observer(self, observer: FrameObserver) -> None:
        """Call `observer(frame, detection, time)` from the feed's thread after each canvas search."""
        self._observers.append(observer)

    # --- service -------------------------------------------------------------------

    def start(self) -> None:
        if self.settings.source == "none":
            log.info("camera feed not started: capture.source is \"none\"")
            self._set_state("none")
            return
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="camera-feed", daemon=True)
        self._thread.start()
        log.info("camera feed started (source %s)", self.settings.source)

    def stop(self, timeout: float = 5.0) -> None:
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        thread.join(timeout)
        if thread.is_alive():
            # NOTE: a driver can block inside a read; the thread is a daemon and ends with the process.
            log.warning("camera feed thread did not stop within %.1f s", timeout)
        self._thread = None
        self._set_state("none")
        if self.session is not None:
            self.session.close()
        log.info("camera feed stopped")

    # --- the feed's thread ---------------------------------------------------------

    def _run(self) -> None:
        delay = self.settings.reopen_min_s
        attempt = 0
        while not self._stop.is_set():
            self._set_state("opening")
            source = self._source_factory(attempt)
            try:
                source.open()
            except SourceError as error:
                attempt += 1
                self._set_state("lost")
                self._rate_limited.log(logging.WARNING, "open", "camera: %s; retrying in %.1f s (attempt %d)",
                                       error, delay, attempt)
                self._stop.wait(delay)
                delay = min(delay * 2, self.settings.reopen_max_s)
                continue

            log.info("camera: %s opened after %d failed attempts", source.name, attempt)
            self.not_applied = list(getattr(source, "not_applied", []))
            ending = self._read_until_failure(source)
            source.close()
            if ending == "stopped":
                break
            self._set_state(ending)
            log.warning("camera: %s %s; closed, reopening in %.1f s", source.name,
                        "froze" if ending == "frozen" else "stopped delivering frames", self.settings.reopen_min_s)
            delay = self.settings.reopen_min_s
            attempt = 0
            self._stop.wait(delay)

    def _read_until_failure(self, source) -> str:
        """Read frames until the source fails ("lost"), freezes ("frozen") or the feed stops."""
        last_change = time.monotonic()
        last_digest = b""
        last_search = 0.0
        failures = 0
        while not self._stop.is_set():
            frame = source.read()
            now = time.monotonic()
            if frame is None:
                failures += 1
                if failures >= 3 or now - last_change > self.settings.frozen_after_s:
                    return "lost"
                continue
            failures = 0

            # A frozen camera repeats the same picture; a watch folder repeats it on purpose.
            digest = hashlib.blake2b(np.ascontiguousarray(frame[::16, ::16]).tobytes(), digest_size=16).digest()
            if digest != last_digest:
                last_digest, last_change = digest, now
            elif self.settings.source != "folder" and now - last_change > self.settings.frozen_after_s:
                return "frozen"

            with self._lock:
                self._frame, self._frame_time = frame, now
            self._set_state("ok")
            if now - last_search >= self.settings.detect_interval_s:
                last_search = now
                self._search(frame, now)
        return "stopped"

    def _search(self, frame: np.ndarray, now: float) -> None:
        detection = find_canvas(frame, self.settings)
        with self._lock:
            self._detection = detection
        for observer in self._observers:
            try:
                observer(frame, detection, now)
            except Exception:  # an observer's bug must not stop the camera
                log.exception("camera: frame observer %r failed", observer)

    def _set_state(self, state: str) -> None:
        if state != self._state:
            log.info("camera state: %s -> %s", self._state, state)
            self._state = state
        if self.board is not None:
            self.board.update(camera=state)


def find_canvas(frame: np.ndarray, settings: CaptureSettings) -> Detection:
    """Return the canvas fixed in the settings (`capture.corners`), else the one detected."""
    if len(settings.corners) == 8:
        corners = order_corners(np.array(settings.corners, np.float32).reshape(4, 2))
        return Detection(corners, 1.0)
    return detect_canvas(frame, settings.detect_side)
