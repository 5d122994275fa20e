"""Deciding when to take the picture, and storing it: new paintings and live painting states.

A `CaptureSession` watches the camera feed's searched frames. A picture is
taken only once the canvas has been found with enough confidence, fills
enough of the frame, and the scene and the corners have stayed still for
`still_seconds` (the painter's hand is out of the way). A picture that shows
the same painting as the last one stored is not stored again.

In live painting mode the first settled picture becomes a painting node, and
each later settled change becomes a new state of that node; every stored state
is passed to `answer(node_id, state_id)`, which in the kiosk submits a
generate job to the worker.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image

from installation.archive import Archive
from installation.capture.canvas import Detection
from installation.capture.rectify import (LensCalibration, canvas_size, grey_patch, rectify,
                                          white_balance)
from installation.config import CaptureSettings
from installation.photo import Photo
from installation.texts import TwowayError

log = logging.getLogger(__name__)

SIGNATURE_SIDE = 64  # pixels of the grey thumbnail compared to spot duplicates and changes
STILLNESS_SIDE = 160  # pixels of the long side of the frames compared for movement


@dataclass(frozen=True)
class CaptureResult:
    """The outcome of one settled picture: "stored", "state", "duplicate", "paused" or "failed"."""

    outcome: str
    node_id: int | None = None
    state_id: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class Picture:
    """A rectified canvas and where it came from."""

    image: np.ndarray  # HxWx3 uint8 RGB, the canvas flat and colour-balanced
    frame: np.ndarray  # the camera frame it was cut from
    corners: np.ndarray  # 4x2, in the frame's pixels
    confidence: float


class Stillness:
    """Measure for how long the scene and the canvas corners have not moved."""

    def __init__(self, settings: CaptureSettings):
        self.settings = settings
        self._previous: np.ndarray | None = None
        self._corners: np.ndarray | None = None
        self._since: float | None = None

    def update(self, frame: np.ndarray, corners: np.ndarray | None, now: float) -> float:
        """Take a new frame; return the seconds since anything last moved (0 while moving)."""
        height, width = frame.shape[:2]
        scale = STILLNESS_SIDE / max(height, width)
        small = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY),
                           (max(1, round(width * scale)), max(1, round(height * scale))),
                           interpolation=cv2.INTER_AREA).astype(np.float32)
        moved = self._previous is None or _largest_local_change(small, self._previous) > self.settings.still_change
        if corners is None or self._corners is None:
            moved = True
        else:
            tolerance = self.settings.corner_tolerance * float(np.hypot(width, height))
            moved = moved or float(np.max(np.linalg.norm(corners - self._corners, axis=1))) > tolerance
        self._previous, self._corners = small, corners
        if moved or self._since is None:
            self._since = now
        return now - self._since if corners is not None else 0.0


class CaptureSession:
    """Take pictures of the canvas from the camera feed and store them in the archive."""

    def __init__(self, settings: CaptureSettings, archive_factory: Callable[[], Archive],
                 author: str = "", answer: Callable[[int, int], None] | None = None,
                 base: Path | None = None, paused: Callable[[], bool] | None = None):
        self.settings = settings
        self.paused = paused  # True while pictures must not be stored (the disk is nearly full)
        self._pause_reported = False
        self._archive_factory = archive_factory
        self._archive: Archive | None = None
        self.author = author
        self.answer = answer
        self.auto = True  # store every settled new painting without waiting for a command
        self.live = settings.live_painting
        self.live_node: int | None = None
        self.results: queue.Queue[CaptureResult] = queue.Queue()
        self._lock = threading.Lock()
        self._stillness = Stillness(settings)
        self._settled_done = False
        self._request: dict | None = None  # a pending capture command: {"parent_id": ...}
        self._last_signature: np.ndarray | None = None
        self._last_state_signature: np.ndarray | None = None
        self._lens = None
        if settings.calibration_file:
            path = Path(settings.calibration_file).expanduser()
            self._lens = LensCalibration.load(path if path.is_absolute() else (base or Path.cwd()) / path)

    @property
    def archive(self) -> Archive:
        if self._archive is None:
            self._archive = self._archive_factory()
            self._last_signature = self._signature_of_last_capture()
        return self._archive

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()
            self._archive = None

    def request_capture(self, parent_id: int | None = None) -> None:
        """Store the next settled picture (the Capture command), with this parent if given."""
        with self._lock:
            self._request = {"parent_id": parent_id}
            self._settled_done = False
        log.info("capture requested (parent %s)", parent_id if parent_id is not None else "default")

    def start_live(self, node_id: int | None = None) -> None:
        """Start live painting; the next settled picture becomes a new node unless `node_id` is given."""
        self.live, self.live_node = True, node_id
        self._last_state_signature = None
        log.info("live painting started (node %s)", node_id if node_id is not None else "new")

    def stop_live(self) -> None:
        self.live, self.live_node = False, None
        log.info("live painting stopped")

    # --- called by the camera feed -------------------------------------------------

    def observe(self, frame: np.ndarray, detection: Detection, now: float) -> CaptureResult | None:
        """Take one searched frame; store a picture when the canvas has settled."""
        corners = detection.corners if self._usable(frame, detection) else None
        still_for = self._stillness.update(frame, corners, now)
        if corners is None or still_for == 0.0:
            self._settled_done = False
            return None
        if still_for < self.settings.still_seconds or self._settled_done:
            return None
        if self.paused is not None and self.paused():
            # The picture and any capture request wait until there is room. The pause is reported once.
            if self._pause_reported:
                return None
            self._pause_reported = True
            log.warning("capture paused: the disk is nearly full; free space in the archive's folder to resume")
            result = CaptureResult("paused", reason="the disk is nearly full")
            self.results.put(result)
            return result
        self._pause_reported = False
        with self._lock:
            self._settled_done = True
            request, self._request = self._request, None
        if not (self.auto or self.live or request is not None):
            return None

        try:
            picture = self.take_picture(frame, corners, detection.confidence)
            result = self._store(picture, request)
        except TwowayError as error:
            log.error("capture failed: %s", error)
            result = CaptureResult("failed", reason=str(error))
        self.results.put(result)
        return result

    def _usable(self, frame: np.ndarray, detection: Detection) -> bool:
        if not detection.found or detection.confidence < self.settings.min_confidence:
            return False
        x, y = detection.corners[:, 0], detection.corners[:, 1]
        area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
        return area >= self.settings.min_canvas_fraction * frame.shape[0] * frame.shape[1]

    # --- making and storing the picture --------------------------------------------

    def take_picture(self, frame: np.ndarray, corners: np.ndarray, confidence: float = 1.0) -> Picture:
        """Rectify and colour-balance the canvas at the frame's full resolution."""
        flat_frame, flat_corners = frame, corners
        if self._lens is not None:
            flat_frame = self._lens.undistort(frame)
            flat_corners = self._lens.undistort_points(corners)
        size = canvas_size(flat_corners, self.settings.canvas_width_cm, self.settings.canvas_height_cm)
        image = rectify(flat_frame, flat_corners, size)
        image = white_balance(image, grey_patch(flat_frame, self.settings.grey_reference))
        return Picture(image=image, frame=frame, corners=np.asarray(corners, np.float32), confidence=confidence)

    def _store(self, picture: Picture, request: dict | None) -> CaptureResult:
        signature = _signature(picture.image)
        self.archive  # opening the archive reads the last capture's signature
        if self.live and self.live_node is not None:
            return self._store_state(self.live_node, picture, signature)

        if self._last_signature is not None and _difference(signature, self._last_signature) \
                < self.settings.duplicate_threshold:
            log.info("capture skipped: the same painting as the last one stored")
            return CaptureResult("duplicate", reason="same painting as the last capture")

        parent_id = request.get("parent_id") if request else None
        node = self._store_painting(picture, self._parents(parent_id))
        self._last_signature = signature
        if self.live:
            self.live_node = node.id
            return self._store_state(node.id, picture, signature, node_id_only=True)
        return CaptureResult("stored", node_id=node.id)

    def _parents(self, parent_id: int | None) -> list[int]:
        """Return the given parent, else the newest machine image the artist marked as chosen."""
        if parent_id is not None:
            return [parent_id]
        chosen = [node.id for node in self.archive.nodes() if node.chosen and node.kind == "machine"]
        return chosen[-1:]

    def _store_painting(self, picture: Picture, parents: list[int]):
        height, width = picture.frame.shape[:2]
        image = Image.fromarray(picture.image)
        limit = self.archive.settings.max_stored_side
        if max(image.size) > limit:
            image.thumbnail((limit, limit), Image.Resampling.LANCZOS)
        photo = Photo(image=image, original=_jpeg(picture.frame), original_suffix=".jpg",
                      original_size=(width, height))
        capture = {"corners": picture.corners.round(2).tolist(), "confidence": round(picture.confidence, 3),
                   "frame_size": [width, height], "rectified_size": list(image.size),
                   "lens_corrected": self._lens is not None,
                   "white_balance": "grey reference" if len(self.settings.grey_reference) == 4 else "automatic"}
        node = self.archive.add_painting(photo, parents=parents, title="", author=self.author,
                                         source_name="camera", capture=capture)
        log.info("captured painting %d (parents %s, corners %s, confidence %.2f)", node.id, parents,
                 capture["corners"], picture.confidence)
        return node

    def _store_state(self, node_id: int, picture: Picture, signature: np.ndarray,
                     node_id_only: bool = False) -> CaptureResult:
        if (not node_id_only and self._last_state_signature is not None
                and _difference(signature, self._last_state_signature) < self.settings.live_change):
            return CaptureResult("duplicate", node_id=node_id, reason="the canvas has not changed")
        state = self.archive.add_state(
            node_id, Image.fromarray(picture.image), raw=_jpeg(picture.frame),
            provenance={"corners": picture.corners.round(2).tolist(), "confidence": round(picture.confidence, 3)})
        self._last_state_signature = signature
        if self.answer is not None:
            self.answer(node_id, state.id)
        return CaptureResult("stored" if node_id_only else "state", node_id=node_id, state_id=state.id)

    def _signature_of_last_capture(self) -> np.ndarray | None:
        paintings = [node for node in self._archive.nodes() if node.kind == "painting"
                     and "capture" in node.provenance]
        if not paintings:
            return None
        return _signature(np.asarray(self._archive.load_image(paintings[-1])))


def _largest_local_change(first: np.ndarray, second: np.ndarray) -> float:
    """Return the largest mean grey-level change over blocks of about 1/20 of the frame's long side.

    A hand moving over one part of the frame changes the whole frame's mean too little to see.
    """
    if first.shape != second.shape:
        return float("inf")
    block = max(2, STILLNESS_SIDE // 20)
    change = cv2.blur(np.abs(first - second), (block, block))
    return float(change.max())


def _signature(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (SIGNATURE_SIDE, SIGNATURE_SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)


def _difference(first: np.ndarray, second: np.ndarray) -> float:
    """Return the mean grey-level difference of two signatures, with their brightness matched."""
    return float(np.mean(np.abs((first - first.mean()) - (second - second.mean()))))


def _jpeg(frame: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not ok:
        raise TwowayError("capture.encode_failed")
    return data.tobytes()


def rectify_photo_file(path: Path | str, settings: CaptureSettings, max_pixels: int,
                       max_side: int) -> tuple[Photo, dict]:
    """Find the canvas in a photo taken by hand and rectify it, for `twoway import --rectify`.

    Returns the photo to store (the rectified canvas, with the file's bytes as
    the original) and the capture provenance. Raises `TwowayError` when no canvas
    is found with `settings.min_confidence`.
    """
    from installation.capture.camera import find_canvas
    from installation.photo import read_photo

    photo = read_photo(path, max_pixels, 1_000_000)  # full resolution: corners in the file's pixels
    frame = np.asarray(photo.image)
    detection = find_canvas(frame, settings)
    if not detection.found:
        raise TwowayError("capture.no_canvas", path=path, reason=detection.reason)
    if detection.confidence < settings.min_confidence:
        raise TwowayError("capture.low_confidence", path=path, confidence=detection.confidence,
                          minimum=settings.min_confidence)
    session = CaptureSession(settings, archive_factory=lambda: None)
    picture = session.take_picture(frame, detection.corners, detection.confidence)
    image = Image.fromarray(picture.image)
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    capture = {"corners": picture.corners.round(2).tolist(), "confidence": round(detection.confidence, 3),
               "frame_size": [frame.shape[1], frame.shape[0]], "rectified_size": list(image.size)}
    stored = Photo(image=image, original=photo.original, original_suffix=photo.original_suffix,
                   original_size=photo.original_size)
    return stored, capture
