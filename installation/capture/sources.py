"""Where camera frames come from: a camera device, a video file or a folder of photos.

Every source gives RGB frames (HxWx3 uint8) through `open()`, `read()` and
`close()`. `read()` returns None when no frame came, and the camera feed decides
what that means: a read failure, a frozen camera or an unplugged device.
"""

from __future__ import annotations

import glob
import logging
import time
from pathlib import Path

import cv2
import numpy as np

from installation.config import CaptureSettings
from installation.photo import read_photo
from installation.texts import TwowayError

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".heic", ".heif"}


class SourceError(Exception):
    """A source that cannot be opened now; the feed retries later."""


class CameraSource:
    """A camera through OpenCV, by device number or by device file."""

    def __init__(self, device: int | str, settings: CaptureSettings):
        self.device = device
        self.settings = settings
        self.capture: cv2.VideoCapture | None = None
        self.not_applied: list[str] = []

    @property
    def name(self) -> str:
        return f"camera {self.device}"

    def open(self) -> None:
        capture = cv2.VideoCapture(self.device)
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"{self.name} did not open")
        self.capture = capture
        self.not_applied = self._apply_settings(capture)
        for name in self.not_applied:
            log.warning("%s: the camera backend did not apply capture.%s", self.name, name)

    def _apply_settings(self, capture: cv2.VideoCapture) -> list[str]:
        """Request each configured setting; return the names of those the backend refused."""
        requests = []
        if self.settings.width and self.settings.height:
            requests += [("width", cv2.CAP_PROP_FRAME_WIDTH, self.settings.width),
                         ("height", cv2.CAP_PROP_FRAME_HEIGHT, self.settings.height)]
        if self.settings.fps:
            requests.append(("fps", cv2.CAP_PROP_FPS, self.settings.fps))
        if self.settings.exposure:
            # V4L2 takes 1 as manual exposure mode; other backends ignore or refuse it.
            requests += [("exposure", cv2.CAP_PROP_AUTO_EXPOSURE, 1),
                         ("exposure", cv2.CAP_PROP_EXPOSURE, self.settings.exposure)]
        if self.settings.white_balance_k:
            requests += [("white_balance_k", cv2.CAP_PROP_AUTO_WB, 0),
                         ("white_balance_k", cv2.CAP_PROP_WB_TEMPERATURE, self.settings.white_balance_k)]
        if self.settings.focus >= 0:
            requests += [("focus", cv2.CAP_PROP_AUTOFOCUS, 0),
                         ("focus", cv2.CAP_PROP_FOCUS, self.settings.focus)]
        refused = []
        for name, prop, value in requests:
            accepted = capture.set(prop, value)
            if not accepted or abs(capture.get(prop) - value) > max(1.0, 0.02 * abs(value)):
                if name not in refused:
                    refused.append(name)
        return refused

    def read(self) -> np.ndarray | None:
        if self.capture is None:
            return None
        ok, frame = self.capture.read()
        if not ok or frame is None:
            return None
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        if self.capture is not None:
            self.capture.release()
            self.capture = None


class VideoFileSource(CameraSource):
    """A video file played at its own frame rate, as a stand-in camera for rehearsals and tests.

    At the end of the file `read()` returns None, as an unplugged camera would;
    the feed then reopens it, so the video plays again.
    """

    def __init__(self, path: Path | str, settings: CaptureSettings):
        super().__init__(str(path), settings)
        self._interval = 0.0
        self._next = 0.0

    @property
    def name(self) -> str:
        return f"video {self.device}"

    def open(self) -> None:
        if not Path(self.device).is_file():
            raise SourceError(f"{self.name}: file not found")
        capture = cv2.VideoCapture(self.device)
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"{self.name} did not open")
        self.capture = capture
        # The file's own rate comes first, because capture.fps is the rate a camera is asked for.
        fps = capture.get(cv2.CAP_PROP_FPS) or self.settings.fps or 25.0
        self._interval = 1.0 / fps
        self._next = time.monotonic()

    def read(self) -> np.ndarray | None:
        delay = self._next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next = max(self._next + self._interval, time.monotonic() - self._interval)
        return super().read()


class FolderSource:
    """A watch folder: the newest photo dropped in is the current frame."""

    def __init__(self, folder: Path | str, settings: CaptureSettings, poll_s: float = 0.5):
        self.folder = Path(folder)
        self.settings = settings
        self.poll_s = poll_s
        self.not_applied: list[str] = []
        self._current: Path | None = None
        self._stamp: float = 0.0
        self._frame: np.ndarray | None = None

    @property
    def name(self) -> str:
        return f"folder {self.folder}"

    def open(self) -> None:
        if not self.folder.is_dir():
            raise SourceError(f"{self.name}: folder not found")

    def read(self) -> np.ndarray | None:
        """Return the newest photo, decoded once; the same array while no newer one arrives."""
        time.sleep(self.poll_s)
        newest = self._newest()
        if newest is None:
            return self._frame
        path, stamp = newest
        if path != self._current or stamp != self._stamp:
            self._current, self._stamp = path, stamp
            try:
                photo = read_photo(path, 200_000_000, 8192)
            except TwowayError as error:
                log.warning("%s: skipped %s: %s", self.name, path.name, error)
                return self._frame
            self._frame = np.asarray(photo.image)
            log.info("%s: new photo %s", self.name, path.name)
        return self._frame

    def _newest(self) -> tuple[Path, float] | None:
        try:
            photos = [(p, p.stat().st_mtime) for p in self.folder.iterdir()
                      if p.suffix.lower() in PHOTO_SUFFIXES and not p.name.startswith(".")]
        except OSError:
            return None
        return max(photos, key=lambda item: item[1]) if photos else None

    def close(self) -> None:
        pass


def open_source(settings: CaptureSettings, base: Path, attempt: int = 0):
    """Return the source the settings name, or None for `source = "none"`.

    For a camera by number, every few failed attempts also try the other
    /dev/video* devices, since a replugged camera may come back under another.
    """
    kind = settings.source
    if kind == "none":
        return None
    if kind == "device":
        device = settings.device_index
        others = sorted(int(p.removeprefix("/dev/video")) for p in glob.glob("/dev/video[0-9]*"))
        others = [number for number in others if number != device]
        if attempt and attempt % 3 == 0 and others:
            device = others[(attempt // 3 - 1) % len(others)]
        return CameraSource(device, settings)
    if kind == "path":
        return CameraSource(settings.device_path, settings)
    if kind == "video":
        return VideoFileSource(_resolve(settings.video_path, base), settings)
    return FolderSource(_resolve(settings.watch_folder, base), settings)


def _resolve(path: str, base: Path) -> Path:
    resolved = Path(path).expanduser()
    return resolved if resolved.is_absolute() else base / resolved
